"""The HTTP API's Lambda handlers (API Gateway HTTP API, payload format 2.0) and the queue worker.

Handlers (named by ``fhrapp.definition``):

- ``handlers.api.fhr.handler``: ``GET /fhr?filename=s3://bucket/key``, ``POST /fhr``
  ``{"filename", "options"}``, ``POST /fhr/batch`` ``{"filenames": [..<=1000], "options"}`` and
  ``GET /fhr/jobs/{id}`` (``?offset=&limit=``, ``?results=full`` for inline results).
- ``handlers.api.worker.handler``: the jobs queue's event source mapping (partial batch failures).
- ``handlers.api.items.handler``: ``POST /DynamoDBManager``, the seeds' DynamoDB manager, made safe.

Every error body is ``{"code", "message", "requestId"}`` (:mod:`handlers.api.http`). Statuses:
400 for a malformed request (``malformed_json``, ``invalid_uri``, ``invalid_options``,
``unknown_field``, ``invalid_key``, ``invalid_update_expression``, ``unknown_placeholder``,
``item_too_large``, ...); 403 ``forbidden_bucket`` / ``forbidden_table`` for anything outside the
stack; 404 ``object_not_found`` / ``item_not_found`` / ``job_not_found``; 409 ``item_exists`` /
``condition_failed`` / ``object_changed``; 413 ``object_too_large``; 422 with the science package's
code for a record that cannot be used (``unsupported_format``, ``corrupt_record``, ...); 503
``throttled``; 500 ``internal_error`` only for the unanticipated, logged with its traceback.

Results cache: see :mod:`handlers.api.cache` (ETag-keyed, zlib-compressed DynamoDB items with a TTL;
results too large even compressed are served but not cached). Jobs and their exactly-once
counting: :mod:`handlers.api.jobs`. Deadline handling: :mod:`handlers.api.fhr`.

Configuration (environment): ``ECG_BUCKET``, ``RESULTS_TABLE``, ``ITEMS_TABLE``,
``JOBS_QUEUE_URL``, ``AWS_ENDPOINT_URL_<SERVICE>``, and the tunables of
:mod:`handlers.api.settings` (``FHR_THROUGHPUT_BYTES_PER_S``, ``MAX_RECORD_BYTES``, ``RESULT_TTL_S``,
``JOBS_MAX_RECEIVES``, ...). Importing any module here loads neither boto nor numpy.
"""
