"""``python -m handlers.runtime``: start the async Lambda runtime (see ``handlers.runtime.bootstrap``)."""

from handlers.runtime.bootstrap import main

raise SystemExit(main())
