"""deploylib.stack_state against moto's CloudFormation (in-process): a stack left in ROLLBACK_COMPLETE by a failed
first create is deleted before `sam deploy`, and a deploy that creates the stack gets `--on-failure DELETE`."""

from __future__ import annotations

import io
import json
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
from deploylib.errors import DeployError
from deploylib.stack_state import CREATE_ARGS, prepare_stack, stack_status
from deploylib.stages import StageRunner
from moto_support import CLIENT_KWARGS

STACK = "tfsam-dev-app"
REGION = str(CLIENT_KWARGS["region_name"])
TEMPLATE = json.dumps({"Resources": {"Queue": {"Type": "AWS::SQS::Queue"}}})


@pytest.fixture
def cfn() -> Iterator[Any]:
    import boto3
    from moto import mock_aws

    with mock_aws():
        yield boto3.client("cloudformation", **CLIENT_KWARGS)


def runner(tmp_path: Path, *, dry_run: bool = False) -> tuple[StageRunner, io.StringIO]:
    out = io.StringIO()
    return StageRunner(tmp_path, {}, dry_run=dry_run, out=out), out


def force_status(stack_id: str, status: str) -> None:
    """moto creates every stack successfully; put one in the state a failed first create leaves behind."""
    from moto.cloudformation.models import cloudformation_backends
    from moto.core import DEFAULT_ACCOUNT_ID

    cloudformation_backends[DEFAULT_ACCOUNT_ID][REGION].stacks[stack_id].status = status


def test_no_stack_yet_is_a_create_that_deletes_itself_on_failure(cfn: Any, tmp_path: Path) -> None:
    run, out = runner(tmp_path)
    assert prepare_stack(run, STACK, REGION, cfn) == ["--on-failure", "DELETE"] == CREATE_ARGS
    assert "does not exist yet" in out.getvalue()
    assert stack_status(cfn, STACK) is None  # nothing was created here


def test_a_rolled_back_first_create_is_deleted_then_created_again(cfn: Any, tmp_path: Path) -> None:
    stack_id = cfn.create_stack(StackName=STACK, TemplateBody=TEMPLATE)["StackId"]
    force_status(stack_id, "ROLLBACK_COMPLETE")
    run, out = runner(tmp_path)
    assert prepare_stack(run, STACK, REGION, cfn) == CREATE_ARGS
    assert stack_status(cfn, STACK) is None, "the dead stack must be gone before sam deploy"
    said = out.getvalue().splitlines()
    assert any(f"stack {STACK} is in ROLLBACK_COMPLETE" in line and "deleting it" in line for line in said), said
    deleted = cfn.describe_stacks(StackName=stack_id)["Stacks"][0]  # by id, a deleted stack is still described
    assert deleted["StackStatus"] == "DELETE_COMPLETE"


def test_an_existing_stack_is_updated_with_the_default_rollback(cfn: Any, tmp_path: Path) -> None:
    cfn.create_stack(StackName=STACK, TemplateBody=TEMPLATE)
    run, out = runner(tmp_path)
    assert prepare_stack(run, STACK, REGION, cfn) == []
    assert stack_status(cfn, STACK) == "CREATE_COMPLETE"
    assert "is CREATE_COMPLETE: updating it" in out.getvalue()


@pytest.mark.parametrize("status", ["UPDATE_ROLLBACK_COMPLETE", "UPDATE_COMPLETE", "ROLLBACK_FAILED"])
def test_only_rollback_complete_is_deleted(cfn: Any, tmp_path: Path, status: str) -> None:
    stack_id = cfn.create_stack(StackName=STACK, TemplateBody=TEMPLATE)["StackId"]
    force_status(stack_id, status)
    assert prepare_stack(runner(tmp_path)[0], STACK, REGION, cfn) == []
    assert stack_status(cfn, STACK) == status


def test_a_never_executed_create_change_set_is_still_a_create(cfn: Any, tmp_path: Path) -> None:
    cfn.create_change_set(StackName=STACK, ChangeSetName="c1", TemplateBody=TEMPLATE, ChangeSetType="CREATE")
    assert stack_status(cfn, STACK) == "REVIEW_IN_PROGRESS"
    assert prepare_stack(runner(tmp_path)[0], STACK, REGION, cfn) == CREATE_ARGS


class _Untouchable:
    def __getattr__(self, name: str) -> Any:
        raise AssertionError(f"a dry run called cloudformation {name}")


def test_a_dry_run_says_what_it_would_do_and_calls_nothing(tmp_path: Path) -> None:
    run, out = runner(tmp_path, dry_run=True)
    assert prepare_stack(run, STACK, REGION, _Untouchable()) == []
    (line,) = out.getvalue().splitlines()
    assert f"would read stack {STACK} in {REGION}" in line
    assert "if ROLLBACK_COMPLETE, delete it and wait" in line
    assert "--on-failure DELETE" in line


def test_a_failed_delete_is_one_clear_error(tmp_path: Path) -> None:
    import botocore.exceptions

    class _DeleteDenied:
        def describe_stacks(self, **_: Any) -> dict[str, Any]:
            return {"Stacks": [{"StackStatus": "ROLLBACK_COMPLETE"}]}

        def delete_stack(self, **_: Any) -> None:
            error = {"Error": {"Code": "AccessDenied", "Message": "not authorized to perform DeleteStack"}}
            raise botocore.exceptions.ClientError(error, "DeleteStack")  # type: ignore[arg-type]

    with pytest.raises(DeployError, match=f"could not delete stack {STACK} \\(ROLLBACK_COMPLETE\\).*by hand"):
        prepare_stack(runner(tmp_path)[0], STACK, REGION, _DeleteDenied())


def test_other_describe_errors_are_not_taken_for_a_missing_stack(tmp_path: Path) -> None:
    import botocore.exceptions

    class _Throttled:
        def describe_stacks(self, **_: Any) -> dict[str, Any]:
            error = {"Error": {"Code": "Throttling", "Message": "Rate exceeded"}}
            raise botocore.exceptions.ClientError(error, "DescribeStacks")  # type: ignore[arg-type]

    with pytest.raises(DeployError, match="cannot read the state of stack"):
        prepare_stack(runner(tmp_path)[0], STACK, REGION, _Throttled())
