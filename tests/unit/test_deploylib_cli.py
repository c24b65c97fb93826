"""deploy.sh end to end on its bad inputs and dry runs: the real script, run on a copy of this repo.

Each test copies the deploy entry point, deploylib, the Terraform environments/backends and the SAM template
into tmp_path (with the real .venv linked in), then breaks one thing. Every bad input must end as ONE line on
stderr, a non-zero exit, and an unchanged tree (no .terraform, no plan, no build).
"""

from __future__ import annotations

import contextlib
import json
import os
import re
import shlex
import shutil
import subprocess
from collections.abc import Iterator
from pathlib import Path

import pytest
import tooling
from deploylib import contract as app_contract
from deploylib.cli import Options, confirm_prod, parse_args
from deploylib.environment_files import origin_repository
from deploylib.errors import DeployError
from deploylib.overrides import template_parameters

REPO = tooling.REPO_ROOT


@pytest.fixture
def repo(tmp_path: Path) -> Path:
    root = tmp_path / "repo"
    (root / "scripts").mkdir(parents=True)
    shutil.copy2(REPO / "scripts" / "deploy.sh", root / "scripts" / "deploy.sh")
    shutil.copy2(REPO / "scripts" / "tooling.py", root / "scripts" / "tooling.py")
    shutil.copytree(
        REPO / "scripts" / "deploylib", root / "scripts" / "deploylib", ignore=shutil.ignore_patterns("__pycache__")
    )
    shutil.copytree(REPO / "terraform" / "environments", root / "terraform" / "environments")
    shutil.copytree(REPO / "terraform" / "backends", root / "terraform" / "backends")
    (root / "sam").mkdir()
    shutil.copy2(REPO / "sam" / "template.yaml", root / "sam" / "template.yaml")
    shutil.copy2(REPO / "sam" / "samconfig.toml", root / "sam" / "samconfig.toml")
    (root / ".venv").symlink_to(REPO / ".venv", target_is_directory=True)
    return root


def no_aws_env(**extra: str) -> dict[str, str]:
    """A clean environment: no credentials anywhere, no instance metadata lookups."""
    # GITHUB_*: when these tests run in GitHub Actions, deploy.sh must not compare the copy with that repository.
    env = {k: v for k, v in os.environ.items() if not k.startswith(("AWS_", "TFSAM_", "GITHUB_"))}
    env.update(
        AWS_CONFIG_FILE="/nonexistent/aws-config",
        AWS_SHARED_CREDENTIALS_FILE="/nonexistent/aws-credentials",
        AWS_EC2_METADATA_DISABLED="true",
        PYTHONDONTWRITEBYTECODE="1",
    )
    env.update(extra)
    return env


def snapshot(root: Path) -> dict[str, float]:
    return {str(p.relative_to(root)): p.stat().st_mtime for p in root.rglob("*") if ".venv" not in p.parts}


def deploy(repo: Path, *args: str, env: dict[str, str] | None = None) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        ["bash", str(repo / "scripts" / "deploy.sh"), *args],
        cwd=repo,
        env=env or no_aws_env(),
        capture_output=True,
        text=True,
        timeout=120,
        stdin=subprocess.DEVNULL,
    )


def assert_refused(repo: Path, result: subprocess.CompletedProcess[str], before: dict[str, float], msg: str) -> None:
    assert result.returncode == 2, result.stdout + result.stderr
    lines = result.stderr.strip().splitlines()
    assert len(lines) == 1, result.stderr
    assert lines[0].startswith("deploy.sh: error: ")
    assert msg in lines[0]
    assert snapshot(repo) == before, "a refused deploy must not create or change anything"


@pytest.mark.parametrize(
    ("args", "message"),
    [
        (["qa"], "unknown environment 'qa': choose one of local, dev, staging, prod"),
        ([], "the following arguments are required: env"),
        (["dev", "--tf-only", "--sam-only"], "not allowed with argument"),
        (["dev", "--plan", "--sam-only"], "--plan stops after terraform plan"),
        (["dev", "--bogus"], "unrecognized arguments: --bogus"),
        (["local", "--dry-run"], "--dry-run prints the commands of a real environment"),
    ],
)
def test_bad_arguments(repo: Path, args: list[str], message: str) -> None:
    before = snapshot(repo)
    assert_refused(repo, deploy(repo, *args), before, message)


def test_missing_tfvars(repo: Path) -> None:
    (repo / "terraform" / "environments" / "staging.tfvars").unlink()
    before = snapshot(repo)
    assert_refused(repo, deploy(repo, "staging"), before, "terraform/environments/staging.tfvars not found")


def test_missing_backend_config(repo: Path) -> None:
    (repo / "terraform" / "backends" / "prod.s3.tfbackend").unlink()
    before = snapshot(repo)
    assert_refused(repo, deploy(repo, "prod", "--yes"), before, "terraform/backends/prod.s3.tfbackend not found")


def test_missing_terraform(repo: Path) -> None:
    terraform = shutil.which("terraform")
    assert terraform is not None
    path = os.pathsep.join(p for p in os.environ["PATH"].split(os.pathsep) if not (Path(p) / "terraform").exists())
    before = snapshot(repo)
    result = deploy(repo, "dev", env=no_aws_env(PATH=path))
    assert_refused(repo, result, before, "terraform not found on PATH: run scripts/bootstrap.sh")


SAME = "<the backend's bucket>"


def configure(repo: Path, env_name: str, *, bucket: str, repository: str, state_bucket: str | None = SAME) -> None:
    """docs/ci-cd.md step 2: the state bucket in the backend file, the repository and state bucket in tfvars."""
    state_bucket = bucket if state_bucket == SAME else state_bucket
    backend = repo / "terraform" / "backends" / f"{env_name}.s3.tfbackend"
    backend.write_text(re.sub(r'(?m)^bucket(\s*)= ".*"$', f'bucket\\1= "{bucket}"', backend.read_text()))
    tfvars = repo / "terraform" / "environments" / f"{env_name}.tfvars"
    text = re.sub(r'(?m)^github_repository = ".*"$', f'github_repository = "{repository}"', tfvars.read_text())
    if state_bucket:
        text += f'terraform_state_bucket = "{state_bucket}"\n'
    tfvars.write_text(text)


def test_the_shipped_sample_values_are_refused_before_anything_runs(repo: Path) -> None:
    before = snapshot(repo)
    result = deploy(repo, "dev")
    assert_refused(repo, result, before, "terraform/backends/dev.s3.tfbackend names no real state bucket")
    assert "terraform/environments/dev.tfvars still has the sample github_repository = 'tfsam-org/tfsam'" in (
        result.stderr
    )


def test_a_dry_run_lists_the_sample_values_and_goes_on(repo: Path) -> None:
    result = deploy(repo, "staging", "--dry-run")
    assert result.returncode == 0, result.stderr
    warnings = [line for line in result.stdout.splitlines() if line.startswith("WARNING: ")]
    assert len(warnings) == 3, result.stdout
    assert "staging.s3.tfbackend names no real state bucket" in warnings[0]
    assert "sample github_repository" in warnings[1]
    assert "sets no terraform_state_bucket" in warnings[2]


@pytest.mark.parametrize(
    ("actions_repository", "refused"),
    [("acme/shop", False), ("acme/other", True), ("Acme/Shop", True)],  # IAM compares the OIDC sub exactly
)
def test_in_github_actions_the_trusted_repository_is_the_one_running(
    repo: Path, actions_repository: str, refused: bool
) -> None:
    configure(repo, "prod", bucket="acme-terraform-state-123456789012", repository="acme/shop")
    before = snapshot(repo)
    env = no_aws_env(GITHUB_ACTIONS="true", GITHUB_REPOSITORY=actions_repository)
    result = deploy(repo, "prod", "--plan", env=env)
    if refused:
        message = f"has github_repository = 'acme/shop' but this workflow runs in '{actions_repository}'"
        assert_refused(repo, result, before, message)
    else:
        assert_refused(repo, result, before, "no AWS credentials for prod")  # past the files: the next check


def test_the_sample_repository_is_accepted_in_a_clone_of_it(repo: Path) -> None:
    subprocess.run(["git", "init", "-q", str(repo)], check=True)
    remote = "git@github.com:tfsam-org/tfsam.git"
    subprocess.run(["git", "-C", str(repo), "remote", "add", "origin", remote], check=True)
    configure(repo, "dev", bucket="tfsam-terraform-state-123456789012", repository="tfsam-org/tfsam")
    before = snapshot(repo)
    assert_refused(repo, deploy(repo, "dev"), before, "no AWS credentials for dev")


def test_a_state_bucket_grant_that_is_not_the_backends_bucket(repo: Path) -> None:
    configure(repo, "dev", bucket="acme-state-a", repository="acme/shop", state_bucket="acme-state-b")
    before = snapshot(repo)
    message = "has terraform_state_bucket = 'acme-state-b' but terraform/backends/dev.s3.tfbackend keeps the state"
    assert_refused(repo, deploy(repo, "dev"), before, message)


def test_a_missing_state_bucket_grant(repo: Path) -> None:
    """Applied without it, infra-deployer has no state statement: CI's first init gets AccessDenied."""
    configure(repo, "staging", bucket="acme-state-a", repository="acme/shop", state_bucket=None)
    before = snapshot(repo)
    message = "staging.tfvars sets no terraform_state_bucket: infra-deployer (CI) would get no access"
    assert_refused(repo, deploy(repo, "staging", "--plan"), before, message)


def test_a_tfvars_file_that_is_not_hcl(repo: Path) -> None:
    tfvars = repo / "terraform" / "environments" / "dev.tfvars"
    tfvars.write_text(tfvars.read_text() + 'github_repository = "unterminated\n')
    before = snapshot(repo)
    assert_refused(repo, deploy(repo, "dev"), before, "dev.tfvars is not valid HCL")


@pytest.mark.parametrize(
    ("url", "expected"),
    [
        ("git@github.com:acme/shop.git", "acme/shop"),
        ("https://github.com/acme/shop.git", "acme/shop"),
        ("https://github.com/acme/shop", "acme/shop"),
        ("ssh://git@github.com/acme/shop.git", "acme/shop"),
        ("https://gitlab.com/acme/shop.git", None),
    ],
)
def test_origin_repository_reads_github_remotes(tmp_path: Path, url: str, expected: str | None) -> None:
    subprocess.run(["git", "init", "-q", str(tmp_path)], check=True)
    subprocess.run(["git", "-C", str(tmp_path), "remote", "add", "origin", url], check=True)
    assert origin_repository(tmp_path) == expected


def test_no_aws_credentials_for_a_real_environment(repo: Path) -> None:
    configure(repo, "dev", bucket="acme-terraform-state-123456789012", repository="acme/shop")
    before = snapshot(repo)
    result = deploy(repo, "dev")
    assert_refused(repo, result, before, "no AWS credentials for dev")
    assert not (repo / "terraform" / ".terraform").exists()


@pytest.fixture(scope="module")
def ssm_endpoint() -> Iterator[str]:
    """A moto server standing in for the environment's SSM (and STS, for the credentials stage)."""
    from moto.server import ThreadedMotoServer

    server = ThreadedMotoServer(ip_address="127.0.0.1", port=0, verbose=False)
    server.start()
    host, port = server.get_host_and_port()
    yield f"http://{host}:{port}"
    server.stop()


def with_contract(
    endpoint: str, env_name: str, document: dict[str, object] | None, region: str = "eu-west-1"
) -> dict[str, str]:
    """Publish (or, with None, remove) `env_name`'s contract as contract.tf does; returns deploy.sh's environment."""
    import boto3

    ssm = boto3.client(
        "ssm", endpoint_url=endpoint, region_name=region, aws_access_key_id="test", aws_secret_access_key="test"
    )
    name = f"/tfsam/{env_name}/contract"
    if document is None:
        with contextlib.suppress(ssm.exceptions.ParameterNotFound):
            ssm.delete_parameter(Name=name)
    else:
        ssm.put_parameter(
            Name=name, Type="String", Tier="Intelligent-Tiering", Value=json.dumps(document), Overwrite=True
        )
    return no_aws_env(
        AWS_ACCESS_KEY_ID="test",
        AWS_SECRET_ACCESS_KEY="test",  # moto's dummy credential
        AWS_REGION=region,
        AWS_ENDPOINT_URL_SSM=endpoint,
        AWS_ENDPOINT_URL_STS=endpoint,
        PATH=PATH_WITHOUT_TERRAFORM,  # --sam-only must never need it
    )


PATH_WITHOUT_TERRAFORM = os.pathsep.join(
    p for p in os.environ["PATH"].split(os.pathsep) if not (Path(p) / "terraform").exists()
)


def contract_document(template: Path, **changes: str | None) -> dict[str, object]:
    params: dict[str, str | None] = {name: f"v-{name.lower()}" for name in template_parameters(template)}
    params.update(SubnetIds="subnet-a,subnet-b", **changes)
    parameters = {k: v for k, v in params.items() if v is not None}
    return {
        "version": 1,
        "hash": app_contract.parameters_hash(parameters),
        "region": "eu-west-1",
        "stack_name": "tfsam-dev-app",
        "artifact_bucket": "tfsam-dev-sam-artifacts-123456789012",
        "parameters": parameters,
    }


def test_sam_only_without_a_published_contract(repo: Path, ssm_endpoint: str) -> None:
    env = with_contract(ssm_endpoint, "dev", None)
    before = snapshot(repo)
    result = deploy(repo, "dev", "--sam-only", env=env)  # a real run: credentials, then the contract
    assert_refused(
        repo,
        result,
        before,
        "infra for dev is not applied (no SSM parameter /tfsam/dev/contract in eu-west-1): "
        "run ./scripts/deploy.sh dev --tf-only",
    )
    assert "==> [build]" not in result.stdout


def test_a_contract_missing_a_template_parameter(repo: Path, ssm_endpoint: str) -> None:
    document = contract_document(repo / "sam" / "template.yaml", DeadLetterQueueArn=None)
    env = with_contract(ssm_endpoint, "staging", document)
    before = snapshot(repo)
    result = deploy(repo, "staging", "--sam-only", "--yes", env=env)
    assert_refused(
        repo,
        result,
        before,
        "template.yaml needs parameter DeadLetterQueueArn, which the staging contract (/tfsam/staging/contract) "
        "lacks: the infra change that adds it must be applied first",
    )
    assert "==> [build]" not in result.stdout


def test_a_malformed_contract(repo: Path, ssm_endpoint: str) -> None:
    env = with_contract(ssm_endpoint, "prod", {"version": 1, "parameters": {}})
    before = snapshot(repo)
    result = deploy(repo, "prod", "--sam-only", "--yes", "--dry-run", env=env)
    assert_refused(repo, result, before, "SSM parameter /tfsam/prod/contract is not a contract document (hash: Field")


def command_lines(stdout: str) -> list[str]:
    return [line for line in stdout.splitlines() if line.startswith(("terraform ", "(cd "))]


@pytest.mark.parametrize("env_name", ["dev", "prod"])
def test_dry_run_prints_the_exact_commands(repo: Path, env_name: str) -> None:
    before = snapshot(repo)
    result = deploy(repo, env_name, "--dry-run")  # no credentials needed: nothing runs
    assert result.returncode == 0, result.stderr
    placeholders = [f"{k}=<contract.parameters.{k}>" for k in template_parameters(repo / "sam" / "template.yaml")]
    tf = "terraform -chdir=terraform"
    assert command_lines(result.stdout) == [
        f"{tf} init -input=false -reconfigure -backend-config=backends/{env_name}.s3.tfbackend",
        f"{tf} plan -input=false -lock-timeout=10m -var-file=environments/{env_name}.tfvars -out={env_name}.tfplan",
        f"{tf} show -json {env_name}.tfplan",
        f"{tf} apply -input=false -lock-timeout=10m {env_name}.tfplan",
        "(cd sam && " + shlex.join(["sam", "build", "--parameter-overrides", *placeholders]) + ")",
        "(cd sam && "
        + shlex.join(
            [
                "sam",
                "deploy",
                "--config-env",
                env_name,
                "--stack-name",
                "<contract.stack_name>",
                "--region",
                "<contract.region>",
                "--s3-bucket",
                "<contract.artifact_bucket>",
                "--no-fail-on-empty-changeset",
                "--parameter-overrides",
                *placeholders,
            ]
        )
        + ")",
    ]
    assert snapshot(repo) == before


@pytest.mark.parametrize("env_name", ["dev", "prod"])
def test_a_plan_only_run_takes_no_state_lock(repo: Path, env_name: str) -> None:
    """--plan (ci.yml's pull request plans) writes no state: -lock=false, so a cancelled plan leaves no .tflock.

    The full deploy keeps planning under the lock (-lock-timeout) it applies with."""
    before = snapshot(repo)
    result = deploy(repo, env_name, "--plan", "--dry-run")
    assert result.returncode == 0, result.stderr
    tf = "terraform -chdir=terraform"
    assert command_lines(result.stdout) == [
        f"{tf} init -input=false -reconfigure -backend-config=backends/{env_name}.s3.tfbackend",
        f"{tf} plan -input=false -lock=false -var-file=environments/{env_name}.tfvars -out={env_name}.tfplan",
        f"{tf} show -json {env_name}.tfplan",
    ]
    assert "-lock-timeout" not in result.stdout and " apply " not in result.stdout
    assert snapshot(repo) == before


def test_dry_run_sam_only_prints_the_contracts_values(repo: Path, ssm_endpoint: str) -> None:
    template = repo / "sam" / "template.yaml"
    document = contract_document(template, VpcId="vpc-1")  # a key the template no longer declares: warned, dropped
    env = with_contract(ssm_endpoint, "staging", document)
    result = deploy(repo, "staging", "--sam-only", "--yes", "--dry-run", env=env)
    assert result.returncode == 0, result.stderr
    assert "ssm:/tfsam/staging/contract in eu-west-1 (region from AWS_REGION)" in result.stdout
    assert "WARNING: the staging contract has VpcId, which template.yaml no longer declares" in result.stdout
    lines = command_lines(result.stdout)
    assert len(lines) == 2, result.stdout  # --sam-only: no terraform at all
    values = document["parameters"]
    assert isinstance(values, dict)
    tokens = [f"{k}={values[k]}" for k in template_parameters(template)]
    assert (
        lines[1]
        == "(cd sam && "
        + shlex.join(
            [
                "sam",
                "deploy",
                "--config-env",
                "staging",
                "--stack-name",
                "tfsam-dev-app",
                "--region",
                "eu-west-1",  # the contract's region, not samconfig.toml's ap-northeast-1
                "--s3-bucket",
                "tfsam-dev-sam-artifacts-123456789012",
                "--no-fail-on-empty-changeset",
                "--no-confirm-changeset",
                "--parameter-overrides",
                *tokens,
            ]
        )
        + ")"
    )


def test_dry_run_sam_only_without_credentials_shows_placeholders(repo: Path) -> None:
    result = deploy(repo, "dev", "--sam-only", "--dry-run", env=no_aws_env(PATH=PATH_WITHOUT_TERRAFORM))
    assert result.returncode == 0, result.stderr
    assert "ssm:/tfsam/dev/contract in ap-northeast-1 (region from samconfig.toml [dev.deploy.parameters])" in (
        result.stdout
    )
    assert "--stack-name '<contract.stack_name>'" in command_lines(result.stdout)[1]


def test_dry_run_says_it_would_clear_a_failed_first_create_before_sam_deploy(repo: Path, ssm_endpoint: str) -> None:
    """A stack left in ROLLBACK_COMPLETE takes no change set: deploy.sh deletes it first (deploylib.stack_state)
    and only a deploy that creates the stack passes --on-failure DELETE; a dry run reads nothing, so it says so."""
    env = with_contract(ssm_endpoint, "dev", contract_document(repo / "sam" / "template.yaml"))
    result = deploy(repo, "dev", "--sam-only", "--dry-run", env=env)
    assert result.returncode == 0, result.stderr
    lines = result.stdout.splitlines()
    stage = lines.index("==> [stack] state of stack tfsam-dev-app")
    assert lines[stage + 1] == (
        "    would read stack tfsam-dev-app in eu-west-1 (cloudformation describe-stacks): if ROLLBACK_COMPLETE, "
        "delete it and wait (delete-stack, wait stack-delete-complete); if it does not exist then, sam deploy "
        "also gets --on-failure DELETE"
    )
    deploy_stage = lines.index("==> [deploy] sam deploy --config-env dev")
    assert stage < deploy_stage, "the stack is checked before sam deploy"
    (sam_deploy,) = [line for line in command_lines(result.stdout) if "sam deploy" in line]
    assert "--on-failure" not in sam_deploy  # decided from the stack's real state, which a dry run does not read


def test_prod_asks_and_refuses_without_a_terminal(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr("sys.stdin.isatty", lambda: False)
    with pytest.raises(DeployError, match="re-run with --yes"):
        confirm_prod(Options("prod"))
    confirm_prod(Options("prod", yes=True))
    confirm_prod(Options("dev"))
    monkeypatch.setattr("sys.stdin.isatty", lambda: True)
    monkeypatch.setattr("builtins.input", lambda _prompt: "no")
    with pytest.raises(DeployError, match="cancelled"):
        confirm_prod(Options("prod"))
    monkeypatch.setattr("builtins.input", lambda _prompt: "prod")
    confirm_prod(Options("prod"))


def test_parse_args_flags() -> None:
    assert parse_args(["prod", "--tf-only", "--plan", "--yes"]) == Options(
        "prod", tf_only=True, plan_only=True, yes=True
    )
    assert parse_args(["local", "--sam-only"]) == Options("local", sam_only=True)


def test_local_sam_only_without_a_running_local_cloud(tmp_path: Path) -> None:
    state = tmp_path / "state"
    env = no_aws_env(TFSAM_LOCAL_DIR=str(state), TFSAM_API_PORT="1", TFSAM_LAMBDA_PORT="1")
    result = subprocess.run(
        [str(REPO / "scripts" / "deploy.sh"), "local", "--sam-only"],
        env=env,
        capture_output=True,
        text=True,
        timeout=120,
        stdin=subprocess.DEVNULL,
        check=False,
    )
    assert result.returncode == 2, result.stdout + result.stderr
    assert result.stderr.strip() == (
        "deploy.sh: error: the local emulator is not running, so there is no local infra: run ./scripts/deploy.sh local"
    )
    assert not state.exists(), "nothing may be started or written"
