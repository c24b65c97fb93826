"""The app stack's state before `sam deploy`: clear a dead first create, and say when this deploy creates it.

A stack whose first create failed is left in ROLLBACK_COMPLETE, and CloudFormation accepts no change set on it
until it is deleted, so every later deploy would fail until someone deletes it by hand. So:

- ROLLBACK_COMPLETE: delete it (it holds no resources: the rollback removed them) and wait, then create anew;
- no stack (or one still in REVIEW_IN_PROGRESS, never executed): this deploy creates it, so `sam deploy` gets
  ``--on-failure DELETE``: a failed create then deletes the stack instead of leaving it in ROLLBACK_COMPLETE.
- any other state: an existing stack is updated with the default ``--on-failure ROLLBACK`` (DELETE would make
  SAM CLI roll back and delete through its own calls, and a cancelled job could leave the stack in between).

docs/ci-cd.md ("AWS behaviour relied on") cites sam deploy's --on-failure and CloudFormation's stack states.
"""

from __future__ import annotations

from typing import Any

from deploylib.errors import DeployError
from deploylib.stages import StageRunner

DEAD_AFTER_FAILED_CREATE = "ROLLBACK_COMPLETE"
NOT_YET_CREATED = "REVIEW_IN_PROGRESS"  # a CREATE change set was made but never executed
CREATE_ARGS = ["--on-failure", "DELETE"]
# The waiter's default is 30 s x 120; a rolled-back stack has no resources left, so it goes quickly.
DELETE_WAIT = {"Delay": 5, "MaxAttempts": 120}


def stack_status(client: Any, stack: str) -> str | None:
    """The stack's StackStatus, or None when no stack of that name exists (deleted stacks are not listed)."""
    import botocore.exceptions

    try:
        stacks = client.describe_stacks(StackName=stack)["Stacks"]
    except botocore.exceptions.ClientError as exc:
        # DescribeStacks answers a name it does not know with ValidationError "... does not exist".
        if exc.response.get("Error", {}).get("Code") == "ValidationError" and "does not exist" in str(exc):
            return None
        raise DeployError(f"cannot read the state of stack {stack}: {exc}") from exc
    return str(stacks[0]["StackStatus"]) if stacks else None


def prepare_stack(runner: StageRunner, stack: str, region: str, client: Any = None) -> list[str]:
    """Delete `stack` if a failed first create left it in ROLLBACK_COMPLETE; return the extra `sam deploy`
    arguments (``--on-failure DELETE`` when this deploy creates the stack). A dry run only says what it would do."""
    if runner.dry_run:
        runner.say(
            f"    would read stack {stack} in {region} (cloudformation describe-stacks): "
            f"if {DEAD_AFTER_FAILED_CREATE}, delete it and wait (delete-stack, wait stack-delete-complete); "
            f"if it does not exist then, sam deploy also gets {' '.join(CREATE_ARGS)}"
        )
        return []
    if client is None:
        import boto3

        client = boto3.Session(region_name=region).client("cloudformation")
    status = stack_status(client, stack)
    if status == DEAD_AFTER_FAILED_CREATE:
        runner.say(
            f"    stack {stack} is in {status} (its first create failed and was rolled back; no resources are "
            "left): deleting it so this deploy can create it again"
        )
        import botocore.exceptions

        try:
            client.delete_stack(StackName=stack)
            client.get_waiter("stack_delete_complete").wait(StackName=stack, WaiterConfig=DELETE_WAIT)
        except (botocore.exceptions.ClientError, botocore.exceptions.WaiterError) as exc:
            raise DeployError(f"could not delete stack {stack} ({status}): {exc}; delete it by hand and retry") from exc
        status = stack_status(client, stack)
    if status is None or status == NOT_YET_CREATED:
        runner.say(f"    stack {stack} does not exist yet: a failed create deletes it ({' '.join(CREATE_ARGS)})")
        return list(CREATE_ARGS)
    runner.say(f"    stack {stack} is {status}: updating it")
    return []
