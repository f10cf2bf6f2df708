"""Our async Lambda runtime: a client of the Lambda Runtime API (2018-06-01) for async handlers.

Run as ``python -m handlers.runtime`` (on AWS through ``exec_wrapper.sh`` as ``AWS_LAMBDA_EXEC_WRAPPER``).
Unlike awslambdaric it awaits ``async def`` handlers on one event loop that lives as long as the
execution environment, so clients made in the handler module's ``init()`` keep their connections warm.

Modules: ``bootstrap`` (process life, invocation loop, exit codes), ``api``/``streams`` (the Runtime API
client over aiohttp / raw asyncio streams), ``context`` (LambdaContext), ``serialization`` (JSON of
what handlers return), ``keepwarm`` (keep-warm answers and fan-out), ``logging`` (structured JSON lines),
``loader`` (``_HANDLER`` import and error bodies), ``errors``. Importing this package imports nothing.

Environment beyond Lambda's own: ``FHR_RUNTIME_TRANSPORT`` = ``streams`` (default: one raw asyncio
keep-alive connection) or ``aiohttp`` (one ``aiohttp.ClientSession``); ``FHR_RUNTIME_LOOP`` = ``auto``
(default: uvloop when installed, else asyncio's loop), ``uvloop`` or ``asyncio``.
``benchmarks/bench_runtime.py`` measures each choice against awslambdaric.
"""
