"""The local runtime: runs the BUILT functions of the SAM template (.aws-sam/build) the way Lambda would.

- `model`: what the template says (functions, layers, env vars, routes, stream and schedule sources), read with
  SAM CLI's own providers and the same parameter values a real deploy passes.
- `workers`: one Lambda Runtime Interface Emulator (bundled with SAM CLI) + `awslambdaric` per function.
- `esm`: the DynamoDB Streams event source mapping semantics (filter, batch, retries, bisect, partial batch
  responses, record age, on-failure destination), free of I/O so it is unit-tested with a fake invoker.
- `streams`, `schedule`: the pollers that feed it; `server`: API Gateway + Lambda invoke endpoints and wiring.
"""
