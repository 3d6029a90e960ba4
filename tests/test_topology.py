"""topology.toml loading: the seed form loads as written; every malformation gives a located one-line error."""

from __future__ import annotations

import subprocess
import sys
from pathlib import Path

import pytest

from bot.errors import TopologyError
from bot.topology import load_topology
from tests.conftest import ROOT

SEED = """
[[pipeline.stages]]
name = "classify"
prompt_file = "prompts/classify-failure.md"
[[pipeline.stages]]
name = "investigate"
prompt_file = "prompts/investigate.md"
depends_on = ["classify"]
[[pipeline.stages]]
name = "recommend"
prompt_file = "prompts/recommend.md"
depends_on = ["classify", "investigate"]
"""

PROMPTS = ["classify-failure.md", "investigate.md", "recommend.md", "investigate-data.md"]


def _write(tmp_path: Path, text: str) -> Path:
    (tmp_path / "prompts").mkdir(exist_ok=True)
    for name in PROMPTS:
        (tmp_path / "prompts" / name).write_text(f"# {name}\n")
    path = tmp_path / "topology.toml"
    path.write_text(text)
    return path


def test_topology_seed_form_loads_exactly_as_written(tmp_path):
    topo = load_topology(_write(tmp_path, SEED))
    assert [s.name for s in topo.order()] == ["classify", "investigate", "recommend"]
    assert [s.output_kind for s in topo.stages] == ["classification", "investigation", "recommendation"]
    assert topo.stage("recommend").depends_on == ["classify", "investigate"]


def test_topology_repo_default_validates_and_expands_vars():
    topo = load_topology(ROOT / "topology.toml", {"log_root": "/tmp/logs"})
    assert topo.read_globs(topo.stage("classify")) == ["/tmp/logs/**"]
    assert "code" in topo.stage("investigate").branches
    assert topo.prompt_text(topo.stage("investigate"), "data").count("\n") > 2


def test_topology_branch_prompt_and_reads_are_added(tmp_path):
    topo = load_topology(_write(tmp_path, SEED.replace(
        'depends_on = ["classify"]',
        'depends_on = ["classify"]\nbranch_on = "classify"\nread = ["/logs/**"]\n'
        '[pipeline.stages.branches.data]\nprompt_file = "prompts/investigate-data.md"\nread = ["/data/**"]', 1)))
    inv = topo.stage("investigate")
    assert topo.read_globs(inv, "data") == ["/logs/**", "/data/**"]
    assert topo.read_globs(inv, "infra") == ["/logs/**"]
    assert "investigate-data.md" in topo.prompt_text(inv, "data")
    assert "investigate-data.md" not in topo.prompt_text(inv, "code")


STAGE_A = '[[pipeline.stages]]\nname = "a"\nprompt_file = "prompts/recommend.md"\n'

MALFORMED: list[tuple[str, str, list[str]]] = [
    ("broken toml", '[[pipeline.stages]]\nname = "a\n', ["invalid TOML", "line 2"]),
    ("unknown stage key", SEED.replace('name = "investigate"', 'name = "investigate"\ndepend_on = ["classify"]'),
     ["stage 'investigate'", "unknown key 'depend_on'", "did you mean 'depends_on'?"]),
    ("unknown pipeline key", "[pipeline]\ntimeout = 3\n" + SEED,
     ["[pipeline]", "unknown key 'timeout'", "did you mean 'timeout_s'?"]),
    ("unknown top-level table", "[pipelines]\nname='x'\n" + SEED,
     ["unknown key 'pipelines'", "did you mean 'pipeline'?"]),
    ("unknown depends_on", SEED.replace('depends_on = ["classify"]', 'depends_on = ["clasify"]'),
     ["stage 'investigate'", "field 'depends_on'", "unknown stage 'clasify'", "did you mean 'classify'?"]),
    ("cycle", SEED.replace('name = "classify"\n', 'name = "classify"\ndepends_on = ["recommend"]\n'),
     ["dependency cycle", "classify -> recommend -> classify"]),
    ("self dependency", SEED.replace('depends_on = ["classify"]', 'depends_on = ["investigate"]'),
     ["stage 'investigate'", "cannot depend on itself"]),
    ("duplicate names", SEED.replace('name = "recommend"', 'name = "classify"'),
     ["stage 'classify'", "duplicate stage name"]),
    ("missing prompt file", SEED.replace("prompts/recommend.md", "prompts/recomend.md"),
     ["stage 'recommend'", "field 'prompt_file'", "prompts/recomend.md does not exist"]),
    ("absolute prompt file", SEED.replace("prompts/recommend.md", "/etc/hostname"),
     ["stage 'recommend'", "field 'prompt_file'", "/etc/hostname is outside", "prompts must live in the repository"]),
    ("prompt file escaping with ..", SEED.replace("prompts/recommend.md", "../../../../etc/hostname"),
     ["stage 'recommend'", "field 'prompt_file'", "is outside"]),
    ("missing name", '[[pipeline.stages]]\nprompt_file = "prompts/recommend.md"\n',
     ["stage #1", "missing required field 'name'"]),
    ("missing prompt_file", '[[pipeline.stages]]\nname = "a"\n',
     ["stage 'a'", "missing required field 'prompt_file'"]),
    ("branch_on not in depends_on", SEED.replace('depends_on = ["classify", "investigate"]',
                                                 'depends_on = ["investigate"]\nbranch_on = "classify"'),
     ["stage 'recommend'", "field 'branch_on'", "'classify' is not in depends_on"]),
    ("branch on a non-classification",
     SEED.replace('depends_on = ["classify", "investigate"]',
                  'depends_on = ["classify", "investigate"]\nbranch_on = "investigate"'),
     ["stage 'recommend'", "does not output a classification"]),
    ("unknown category", SEED.replace('depends_on = ["classify"]',
                                      'depends_on = ["classify"]\nbranch_on = "classify"\n'
                                      '[pipeline.stages.branches.dta]\nprompt_file = "prompts/investigate-data.md"'),
     ["stage 'investigate'", "unknown category 'dta'", "did you mean 'data'?"]),
    ("branches without branch_on", SEED.replace('depends_on = ["classify"]',
                                                'depends_on = ["classify"]\n[pipeline.stages.branches.data]\n'
                                                'prompt_file = "prompts/investigate-data.md"'),
     ["stage 'investigate'", "field 'branches' needs 'branch_on'"]),
    ("relative read glob", STAGE_A + 'read = ["logs/**"]\n', ["stage 'a'", "field 'read'", "'logs/**' is relative"]),
    ("empty read glob", STAGE_A + 'read = [""]\n', ["stage 'a'", "field 'read'", "empty path"]),
    ("root read glob", STAGE_A + 'read = ["/**"]\n', ["stage 'a'", "whole filesystem"]),
    ("unknown variable", STAGE_A + 'read = ["{log_rot}/**"]\n',
     ["stage 'a'", "unknown variable '{log_rot}'", "--var log_rot=VALUE"]),
    ("wrong type", STAGE_A + 'timeout_s = "soon"\n', ["stage 'a'", "field 'timeout_s'"]),
    ("negative timeout", STAGE_A + "timeout_s = -1\n", ["stage 'a'", "field 'timeout_s'", "greater than 0"]),
    ("unknown output kind", STAGE_A + 'output = "essay"\n', ["stage 'a'", "field 'output'", "classification"]),
    ("no stages", "[pipeline]\nname = 'x'\n", ["[pipeline]", "missing required field 'stages'"]),
    ("unknown branch key", SEED.replace('depends_on = ["classify"]',
                                        'depends_on = ["classify"]\nbranch_on = "classify"\n'
                                        '[pipeline.stages.branches.data]\nprompt = "x.md"'),
     ["stage 'investigate'", "branches.data", "unknown key 'prompt'", "did you mean 'prompt_file'?"]),
    ("unknown job key", SEED + '[jobs.orders]\nowner = ["U1"]\n',
     ["[jobs.orders]", "unknown key 'owner'", "did you mean 'owners'?"]),
    ("escalation without team", SEED + "[escalation.data]\nchannel = 'C1'\n",
     ["[escalation.data]", "missing required field 'team'"]),
    ("escalation to unknown category", SEED + "[escalation.dat]\nteam = 'x'\n",
     ["[escalation.dat]", "not a category", "did you mean 'data'?"]),
    ("job escalation to missing table", SEED + "[jobs.orders]\nescalation = { code = 'orders-team' }\n",
     ["[jobs.orders]", "no [escalation.orders-team] table"]),
    ("bad alert regex", SEED + "[alerts]\npatterns = ['job=(?P<job>\\w+']\n",
     ["[alerts]", "patterns[0]", "not a valid regular expression"]),
]


@pytest.mark.parametrize(("text", "expected"), [(t, e) for _, t, e in MALFORMED], ids=[n for n, _, _ in MALFORMED])
def test_topology_malformed_gives_located_error(tmp_path, text, expected):
    path = _write(tmp_path, text)
    with pytest.raises(TopologyError) as err:
        load_topology(path)
    message = str(err.value)
    assert message.startswith(str(path) + ": ")
    assert "\n" not in message
    for part in expected:
        assert part in message, message


def test_topology_missing_file_is_clear(tmp_path):
    with pytest.raises(TopologyError, match="file not found"):
        load_topology(tmp_path / "nope.toml")


def test_topology_cli_validate_exit_codes(tmp_path):
    good = _write(tmp_path, SEED)
    ok = subprocess.run([sys.executable, "-m", "bot", "validate", str(good)], capture_output=True, text=True, cwd=ROOT)
    assert ok.returncode == 0 and "ok (3 stages)" in ok.stdout
    good.write_text(SEED.replace('"classify"]', '"clasify"]', 1))
    bad = subprocess.run([sys.executable, "-m", "bot", "validate", str(good)], capture_output=True, text=True, cwd=ROOT)
    assert bad.returncode == 2
    assert bad.stderr.count("\n") == 1 and "Traceback" not in bad.stderr
    assert "unknown stage 'clasify'" in bad.stderr


@pytest.mark.parametrize("glob", ["/./**", "/../**", "/[a-z]*/**", "/?*/**", "/**/*.log", "//**",
                                  "{log_root}/../../../../../../../../**"])
def test_topology_whole_filesystem_glob_refused_however_spelled(tmp_path, glob):
    text = '[vars]\nlog_root = "/var/log/etl"\n[pipeline]\nname = "x"\n' + STAGE_A \
        + f'read = ["{glob}"]\n'
    path = _write(tmp_path, text)
    with pytest.raises(TopologyError, match="whole filesystem"):
        load_topology(path)


def test_topology_var_making_the_allowlist_root_is_refused_and_nothing_is_read(tmp_path):
    p = subprocess.run([sys.executable, "-m", "bot", "run", "--var", "log_root=/.", "--log", "/etc/passwd"],
                       capture_output=True, text=True, cwd=ROOT, timeout=60)
    assert p.returncode == 2 and "whole filesystem" in p.stderr
    assert "root:" not in p.stdout + p.stderr and p.stderr.count("\n") == 1


def test_topology_sandbox_refuses_a_root_glob_at_run_time_too():
    from bot.sandbox.policy import Policy

    for glob in ("/./**", "/../**", "/[a-z]*/**", "/etc/../**"):
        with pytest.raises(ValueError, match="whole filesystem"):
            Policy([glob])


STRICT = [
    ("empty topology", "", ["missing required table [pipeline]", "[[pipeline.stages]]"]),
    ("self-referencing variable", '[vars]\nlog_root = "{log_root}/x"\n' + STAGE_A + 'read = ["{log_root}/**"]\n',
     ["variable '{log_root}'", "refers to itself"]),
    ("bool timeout", STAGE_A + "timeout_s = true\n", ["stage 'a'", "field 'timeout_s'"]),
    ("string bool", '[pipeline]\nrequire_os_enforcement = "yes"\n' + STAGE_A,
     ["[pipeline]", "field 'require_os_enforcement'"]),
    ("lookbehind alert regex", SEED + "[alerts]\npatterns = ['(?<=dag=)(?P<job>\\w+)']\n",
     ["[alerts]", "patterns[0]", "regex refused", "lookbehind", "put the text before it in the pattern"]),
    ("lookbehind redaction regex", SEED + "[[redaction.patterns]]\nname = 't'\npattern = '(?<=ticket=)\\w+'\n",
     ["[redaction]", "patterns 't'", "regex refused", "lookbehind", "capture the part you want in a group"]),
    ("unknown key next to missing field", '[[pipeline.stages]]\nname = "a"\nprompt_flie = "prompts/recommend.md"\n',
     ["stage 'a'", "unknown key 'prompt_flie'", "did you mean 'prompt_file'?"]),
]


@pytest.mark.parametrize(("text", "expected"), [(t, e) for _, t, e in STRICT], ids=[n for n, _, _ in STRICT])
def test_topology_strict_validation_says_what_is_wrong(tmp_path, text, expected):
    with pytest.raises(TopologyError) as err:
        load_topology(_write(tmp_path, text))
    for part in expected:
        assert part in str(err.value), str(err.value)


def test_topology_allowlist_hint_names_each_path_once(tmp_path):
    text = SEED.replace('name = "classify"\n', 'name = "classify"\nread = ["/srv/a/**", "/srv/a/**"]\n') \
        + '[jobs.orders]\nlogs = "/elsewhere/orders"\n'
    with pytest.raises(TopologyError) as err:
        load_topology(_write(tmp_path, text))
    assert str(err.value).count("/srv/a/**") == 1, str(err.value)


def test_topology_an_undecodable_or_missing_prompt_names_its_stage_field_and_file(tmp_path):
    """The error said 'cannot read a prompt file: 'utf-8' codec can't decode…', naming neither stage nor file."""
    path = _write(tmp_path, SEED)
    (tmp_path / "prompts" / "investigate.md").write_bytes(b"# investigate\n\xff\xfe bad\n")
    with pytest.raises(TopologyError) as e:
        load_topology(path)
    assert e.value.where == "stage 'investigate'" and "field 'prompt_file'" in e.value.detail
    assert "prompts/investigate.md is not UTF-8" in str(e.value) and "save the prompt as UTF-8" in str(e.value)
    (tmp_path / "prompts" / "investigate.md").unlink()
    with pytest.raises(TopologyError) as missing:
        load_topology(path)
    assert "stage 'investigate': field 'prompt_file': prompts/investigate.md does not exist" in str(missing.value)


@pytest.mark.parametrize("value", ["inf", "nan"])
def test_topology_an_endless_stage_timeout_is_refused(tmp_path, value):
    path = _write(tmp_path, SEED.replace('name = "classify"\n', f'name = "classify"\ntimeout_s = {value}\n', 1))
    with pytest.raises(TopologyError, match="timeout_s"):
        load_topology(path)
