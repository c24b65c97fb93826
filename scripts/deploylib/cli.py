"""`scripts/deploy.sh <env> [--tf-only|--sam-only] [--plan] [--yes] [--dry-run]`.

Real environments (dev, staging, prod): terraform init (that env's S3 backend) -> plan to a plan file ->
apply exactly that plan (prod asks first unless --yes), which publishes the app contract to SSM -> read the
contract (deploylib.contract) -> sam build -> sam deploy --config-env <env> with the complete parameter
overrides. --sam-only starts at the contract: it needs no Terraform and no state, only ssm:GetParameter on it.
`local` runs the same layers on the embedded cloud
(see deploylib.local). Every bad input ends as one line on stderr and exit code 2, before anything changed.
"""

from __future__ import annotations

import argparse
import json
import os
import shutil
import sys
from dataclasses import dataclass
from pathlib import Path

import tooling

from deploylib import contract as app_contract
from deploylib.errors import DeployError
from deploylib.overrides import check_planned_outputs, parameter_overrides, template_parameters
from deploylib.stack_state import prepare_stack
from deploylib.stages import StageRunner

ENVIRONMENTS = ("local", "dev", "staging", "prod")


@dataclass(frozen=True)
class Options:
    env: str
    tf_only: bool = False
    sam_only: bool = False
    plan_only: bool = False
    yes: bool = False
    dry_run: bool = False


class _Parser(argparse.ArgumentParser):
    def error(self, message: str) -> None:  # type: ignore[override]
        # argparse prints usage plus a message; deploy.sh's contract is one clear line.
        raise DeployError(
            f"{message} (usage: deploy.sh <{'|'.join(ENVIRONMENTS)}> "
            "[--tf-only|--sam-only] [--plan] [--yes] [--dry-run])"
        )


def parse_args(argv: list[str]) -> Options:
    parser = _Parser(prog="deploy.sh", description=__doc__.splitlines()[0] if __doc__ else None)
    parser.add_argument("env", help=f"one of {', '.join(ENVIRONMENTS)}")
    layer = parser.add_mutually_exclusive_group()
    layer.add_argument("--tf-only", action="store_true", help="infra layer only (terraform)")
    layer.add_argument("--sam-only", action="store_true", help="app layer only, on the already-applied infra")
    parser.add_argument("--plan", action="store_true", help="stop after terraform plan")
    parser.add_argument("--yes", action="store_true", help="do not ask before changing prod")
    parser.add_argument("--dry-run", action="store_true", help="print the exact commands, run nothing")
    ns = parser.parse_args(argv)
    if ns.env not in ENVIRONMENTS:
        raise DeployError(f"unknown environment '{ns.env}': choose one of {', '.join(ENVIRONMENTS)}")
    if ns.plan and ns.sam_only:
        raise DeployError("--plan stops after terraform plan, so it cannot go with --sam-only")
    if ns.dry_run and ns.env == "local":
        raise DeployError("--dry-run prints the commands of a real environment; `deploy.sh local` changes only .local/")
    return Options(ns.env, ns.tf_only, ns.sam_only, ns.plan, ns.yes, ns.dry_run)


@dataclass(frozen=True)
class Layout:
    """Where the layers live (derived from this checkout, so a test can run a copy of the repo)."""

    root: Path

    @property
    def terraform(self) -> Path:
        return self.root / "terraform"

    @property
    def sam(self) -> Path:
        return self.root / "sam"

    @property
    def template(self) -> Path:
        return self.sam / "template.yaml"

    @property
    def samconfig(self) -> Path:
        return self.sam / "samconfig.toml"

    def tfvars(self, env: str) -> Path:
        return self.terraform / "environments" / f"{env}.tfvars"

    def backend(self, env: str) -> Path:
        return self.terraform / "backends" / f"{env}.s3.tfbackend"


def check_inputs(opts: Options, layout: Layout, env: dict[str, str]) -> None:
    """Everything that can be checked without touching anything; raises DeployError on the first problem."""
    needs_terraform = not opts.sam_only  # --sam-only reads the published contract, never Terraform
    needs_sam = not opts.tf_only and not opts.plan_only
    if needs_terraform:
        tfvars = layout.tfvars(opts.env)
        if not tfvars.is_file():
            raise DeployError(
                f"{tfvars.relative_to(layout.root)} not found: create it (copy "
                "terraform/environments/dev.tfvars) or pick another environment"
            )
    if opts.env != "local" and needs_terraform:
        backend = layout.backend(opts.env)
        if not backend.is_file():
            raise DeployError(
                f"{backend.relative_to(layout.root)} not found: it names the S3 state bucket for {opts.env}"
            )
    if needs_sam and not layout.template.is_file():
        raise DeployError(f"{layout.template.relative_to(layout.root)} not found: the app layer is missing")
    for tool, needed in (("terraform", needs_terraform), ("sam", needs_sam)):
        if needed and shutil.which(tool, path=env.get("PATH")) is None:
            raise DeployError(f"{tool} not found on PATH: run scripts/bootstrap.sh (or install {tool})")
    if opts.env != "local" and needs_terraform:
        check_environment_files(opts, layout, env)


def check_environment_files(opts: Options, layout: Layout, env: dict[str, str]) -> None:
    """Sample or inconsistent values in the environment's tfvars/backend stop a real run before it starts;
    a dry run (which changes nothing) lists them as warnings and goes on."""
    from deploylib.environment_files import problems

    found = problems(opts.env, layout.tfvars(opts.env), layout.backend(opts.env), layout.root, env)
    if not found:
        return
    if opts.dry_run:
        for problem in found:
            print(f"WARNING: {problem}")
        return
    raise DeployError("; also ".join(found))


def check_credentials(env_name: str, env: dict[str, str]) -> str:
    """The caller's identity via STS (the cheapest authenticated call); a clear line when there is none."""
    import boto3
    import botocore.exceptions
    from botocore.config import Config

    region = env.get("AWS_REGION") or env.get("AWS_DEFAULT_REGION") or "ap-northeast-1"
    try:
        session = boto3.Session(region_name=region)
        sts = session.client("sts", config=Config(connect_timeout=5, read_timeout=10, retries={"max_attempts": 1}))
        identity = sts.get_caller_identity()
    except botocore.exceptions.NoCredentialsError as exc:
        raise DeployError(
            f"no AWS credentials for {env_name}: configure them (aws configure / AWS_PROFILE / OIDC role) and "
            "check with `aws sts get-caller-identity`"
        ) from exc
    except (botocore.exceptions.BotoCoreError, botocore.exceptions.ClientError) as exc:
        raise DeployError(f"AWS credentials for {env_name} do not work ({exc}): refresh them and retry") from exc
    return str(identity.get("Arn", "?"))


def confirm_prod(opts: Options) -> None:
    if opts.env != "prod" or opts.yes or opts.dry_run:
        return
    if not sys.stdin.isatty():
        raise DeployError("prod needs confirmation and stdin is not a terminal: re-run with --yes to proceed")
    answer = input("Apply to prod? Type 'prod' to continue: ").strip()
    if answer != "prod":
        raise DeployError("prod deploy cancelled: nothing was applied")


def deploy_real(opts: Options, layout: Layout, runner: StageRunner) -> None:
    env = opts.env
    tf = ["terraform", f"-chdir={layout.terraform.relative_to(layout.root)}"]
    plan_file = f"{env}.tfplan"
    planned_region: str | None = None

    if not opts.sam_only:
        with runner.stage("init", f"terraform init ({env} backend)"):
            runner.run([*tf, "init", "-input=false", "-reconfigure", f"-backend-config=backends/{env}.s3.tfbackend"])
        # --plan never applies: it writes no state, so it takes no state lock (-lock=false). A plan cancelled
        # mid-run (ci.yml cancels superseded PR runs; GitHub signals only the step's shell) then cannot leave
        # <key>.tflock behind, and the read-only planner needs no write on the lock object. Applying the saved file
        # later is safe: apply takes the lock and refuses a plan whose state snapshot is no longer the latest
        # ("Saved plan is stale"). A full deploy plans under the lock it then applies with.
        lock = "-lock=false" if opts.plan_only else "-lock-timeout=10m"
        with runner.stage("plan", f"terraform plan -> terraform/{plan_file}"):
            runner.run(
                [
                    *tf,
                    "plan",
                    "-input=false",
                    lock,
                    f"-var-file=environments/{env}.tfvars",
                    f"-out={plan_file}",
                ]
            )
        # The seam is checked against the plan, so a missing parameter stops the deploy before apply.
        shown = runner.run([*tf, "show", "-json", plan_file], capture=True)
        if not runner.dry_run:
            planned = json.loads(shown.stdout or "{}")
            check_planned_outputs(planned, layout.template, warn=runner.say)
            region_output = planned.get("planned_values", {}).get("outputs", {}).get("aws_region", {})
            planned_region = region_output.get("value") if isinstance(region_output, dict) else None
        if opts.plan_only:
            return
        confirm_prod(opts)
        with runner.stage("apply", f"terraform apply terraform/{plan_file}"):
            runner.run([*tf, "apply", "-input=false", "-lock-timeout=10m", plan_file])
        if opts.tf_only:
            return

    location = app_contract.locate(env, layout.samconfig, runner.env, planned_region=planned_region)
    contract = None
    with runner.stage("contract", f"read the app contract: {location.describe()}"):
        if runner.dry_run and not opts.sam_only:
            runner.say("    dry run: the apply above publishes it; values are shown as <contract.*>")
        elif runner.dry_run and not _have_credentials():
            runner.say("    dry run without AWS credentials: values are shown as <contract.*>")
        else:
            contract = app_contract.read(location, app_contract.ssm_client(location.region))
            runner.say(f"    contract version {contract.version}, parameters sha256 {contract.hash[:12]}")

    if contract is None:  # dry run: show where each value will come from
        overrides = [f"{key}=<contract.parameters.{key}>" for key in template_parameters(layout.template)]
        bucket, stack, region = "<contract.artifact_bucket>", "<contract.stack_name>", "<contract.region>"
    else:
        overrides = parameter_overrides(app_contract.template_check(location, contract, layout.template, runner.say))
        bucket, stack = contract.artifact_bucket, contract.stack_name
        # The stack goes where the infra is: its subnets, roles, table and queue exist only in Terraform's region
        # (samconfig.toml's region is only a default for hand-run sam commands).
        region = contract.region
    if opts.sam_only:
        confirm_prod(opts)
    with runner.stage("build", "sam build"):
        runner.run(["sam", "build", "--parameter-overrides", *overrides], cwd=layout.sam)
    with runner.stage("stack", f"state of stack {stack}"):  # a failed first create is deleted (stack_state.py)
        create_args = prepare_stack(runner, stack, region)
    with runner.stage("deploy", f"sam deploy --config-env {env}"):
        runner.run(
            [
                "sam",
                "deploy",
                "--config-env",
                env,
                "--stack-name",
                stack,
                "--region",
                region,
                "--s3-bucket",
                bucket,
                "--no-fail-on-empty-changeset",
                *create_args,
                *(["--no-confirm-changeset"] if opts.yes else []),
                "--parameter-overrides",
                *overrides,
            ],
            cwd=layout.sam,
        )


def _have_credentials() -> bool:
    import boto3

    return boto3.session.Session().get_credentials() is not None


def main(argv: list[str] | None = None) -> int:
    args = sys.argv[1:] if argv is None else argv
    try:
        opts = parse_args(args)
        layout = Layout(tooling.REPO_ROOT)
        base = dict(os.environ)
        # Some images export TF_CLI_CONFIG_FILE naming a file that does not exist; it would hide the offline
        # mirror config tooling.tool_env() supplies (terraform_workspace does the same).
        if "TF_CLI_CONFIG_FILE" in base and not Path(base["TF_CLI_CONFIG_FILE"]).is_file():
            del base["TF_CLI_CONFIG_FILE"]
        env = tooling.tool_env(base)
        check_inputs(opts, layout, env)
        runner = StageRunner(layout.root, env, dry_run=opts.dry_run)
        if opts.env == "local":
            from deploylib.local import deploy_local

            deploy_local(opts, layout, runner)
        else:
            if not opts.dry_run:
                with runner.stage("credentials", f"AWS identity for {opts.env}"):
                    runner.say(f"    {check_credentials(opts.env, env)}")
            deploy_real(opts, layout, runner)
        runner.say(f"==> {'dry run of ' if opts.dry_run else ''}{opts.env} finished in {runner.total():.1f}s")
        return 0
    except DeployError as exc:
        print(f"deploy.sh: error: {exc}", file=sys.stderr)
        return 2
    except KeyboardInterrupt:
        print("deploy.sh: interrupted", file=sys.stderr)
        return 130


if __name__ == "__main__":
    raise SystemExit(main())
