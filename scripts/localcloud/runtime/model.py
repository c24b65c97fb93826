"""What the built template says, resolved with the deploy's parameter values, via SAM CLI's own providers."""

from __future__ import annotations

import json
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from localcloud.runtime.esm import EsmConfig


@dataclass(frozen=True)
class FunctionSpec:
    logical_id: str
    function_name: str
    handler: str
    code_dir: Path
    layer_dirs: tuple[Path, ...]
    environment: dict[str, str]
    timeout: int
    memory: int
    architecture: str
    runtime: str

    def arn(self, region: str, account: str) -> str:
        return f"arn:aws:lambda:{region}:{account}:function:{self.function_name}"


@dataclass(frozen=True)
class StreamSource:
    function: str  # logical id
    name: str
    config: EsmConfig


@dataclass(frozen=True)
class ScheduleSource:
    function: str
    name: str
    expression: str
    enabled: bool
    input: str | None


@dataclass
class RuntimeModel:
    functions: dict[str, FunctionSpec]
    api: Any  # samcli.lib.providers.provider.Api (routes, stage, CORS, binary types)
    function_provider: Any  # samcli SamFunctionProvider: resolves logical ids, names and full paths
    streams: list[StreamSource] = field(default_factory=list)
    schedules: list[ScheduleSource] = field(default_factory=list)

    def resolve(self, identifier: str) -> FunctionSpec | None:
        """A function by logical id, function name, full path or ARN (what `sam local invoke` accepts)."""
        name = identifier.rsplit(":function:", 1)[-1].split(":", 1)[0]
        if name in self.functions:
            return self.functions[name]
        for spec in self.functions.values():
            if name == spec.function_name:
                return spec
        found = self.function_provider.get(name)
        return self.functions.get(found.name) if found is not None else None


def _env_vars(function: Any) -> dict[str, str]:
    variables = (function.environment or {}).get("Variables") or {}
    return {str(k): v if isinstance(v, str) else json.dumps(v) for k, v in variables.items()}


def load_model(template: Path, parameters: dict[str, str], region: str, account: str) -> RuntimeModel:
    """Read functions, layers, routes and event sources of `template` (a BUILT template: code URIs point at
    the build output) with the same parameter values `sam deploy` receives."""
    from samcli.lib.providers.api_provider import ApiProvider
    from samcli.lib.providers.sam_function_provider import SamFunctionProvider
    from samcli.lib.providers.sam_stack_provider import SamLocalStackProvider

    pseudo = {"AWS::Region": region, "AWS::AccountId": account}
    stacks, _ = SamLocalStackProvider.get_stacks(str(template), parameter_overrides={**pseudo, **parameters})
    provider = SamFunctionProvider(stacks, ignore_code_extraction_warnings=True)
    functions: dict[str, FunctionSpec] = {}
    streams: list[StreamSource] = []
    schedules: list[ScheduleSource] = []
    base = template.parent
    for fn in provider.get_all():
        if not fn.codeuri or not fn.handler:
            continue
        spec = FunctionSpec(
            logical_id=fn.name,
            function_name=fn.functionname,
            handler=fn.handler,
            code_dir=(base / fn.codeuri).resolve(),
            layer_dirs=tuple((base / layer.codeuri).resolve() for layer in fn.layers if layer.codeuri),
            environment=_env_vars(fn),
            timeout=int(fn.timeout or 3),
            memory=int(fn.memory or 128),
            architecture=(fn.architectures or ["x86_64"])[0],
            runtime=str(fn.runtime),
        )
        functions[spec.logical_id] = spec
        for event_name, event in (fn.events or {}).items():
            props = event.get("Properties") or {}
            if event.get("Type") == "DynamoDB":
                config = EsmConfig.from_event_properties(props, spec.arn(region, account))
                streams.append(StreamSource(spec.logical_id, event_name, config))
            elif event.get("Type") in {"Schedule", "ScheduleV2"}:
                expression = props.get("Schedule") or props.get("ScheduleExpression")
                enabled = props.get("Enabled", True) and props.get("State", "ENABLED") == "ENABLED"
                raw_input = props.get("Input")
                schedules.append(
                    ScheduleSource(
                        spec.logical_id,
                        event_name,
                        str(expression),
                        bool(enabled),
                        str(raw_input) if raw_input is not None else None,
                    )
                )
    api = ApiProvider(stacks).api
    return RuntimeModel(functions, api, provider, streams, schedules)
