"""One source of configuration (issue 12): configs/ is generated from conf/ and must equal it."""
from __future__ import annotations

import shutil

from digan.config import load_config
from pipeline.configs import CONF, CONFIGS, REFERENCE_EXPERIMENTS, main, profile_params, render
from pipeline.params import experiment_config


def test_committed_configs_are_generated_from_conf():
    for profile in REFERENCE_EXPERIMENTS:
        assert (CONFIGS / f"{profile}.yaml").read_text() == render(profile), \
            f"configs/{profile}.yaml is stale: run python -m pipeline.configs"
    assert main(["--check"]) == 0


def test_a_config_file_trains_what_the_pipeline_trains():
    """Loaded back, configs/<profile>.yaml is the pipeline's config of the reference experiment; the only
    difference allowed is data.synthetic, which makes digan.train build the same synthetic store itself."""
    for profile, experiment in REFERENCE_EXPERIMENTS.items():
        from_file = load_config(CONFIGS / f"{profile}.yaml")
        pipeline = experiment_config(profile_params(profile), experiment)
        assert from_file.generator == pipeline.generator and from_file.discriminator == pipeline.discriminator
        assert from_file.train == pipeline.train
        assert from_file.data.path == pipeline.data.path and from_file.data.split == pipeline.data.split
    assert load_config(CONFIGS / "default.yaml").data.synthetic
    assert load_config(CONFIGS / "paper.yaml").data.path == "data/clips/ucf101/all"  # a store preprocess writes


def test_editing_conf_changes_the_generated_config(tmp_path):
    conf = tmp_path / "conf"
    shutil.copytree(CONF, conf)
    profile = conf / "profile" / "default.yaml"
    profile.write_text(profile.read_text().replace("    fmm_rank: 4\n", "    fmm_rank: 3\n"))
    assert "fmm_rank: 3" in render("default", conf) and render("default", conf) != render("default")


def test_conf_datasets_name_every_dataset_and_override_no_default_source():
    """The sources live once, in digan/data/real/<dataset>.py; conf/config.yaml's datasets holds only user
    overrides. It must name every dataset (dvc.yaml's download stage reads datasets.<dataset> as params)
    and, as committed, change nothing: the pipeline downloads exactly the modules' sources."""
    from digan.data.real import DATASETS, SPECS
    from digan.data.sources import load_sources

    for profile in REFERENCE_EXPERIMENTS:
        datasets = profile_params(profile).datasets
        assert list(datasets) == list(DATASETS)
        assert load_sources({"datasets": datasets}) == {name: SPECS[name].source for name in DATASETS}
