#!/bin/sh
# AWS_LAMBDA_EXEC_WRAPPER for the managed python3.12 runtime: ignore the command Lambda would run
# (its own bootstrap and awslambdaric) and exec our async runtime instead, with the code bundle
# (/var/task) and the dependency layer (/opt/python) importable.
export PYTHONPATH="/var/task:/opt/python${PYTHONPATH:+:$PYTHONPATH}"
exec python3 -m handlers.runtime
