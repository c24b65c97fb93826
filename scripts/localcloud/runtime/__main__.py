"""`python -m localcloud.runtime --config <state>/runtime.json` (started by `deploy.sh local`)."""

from localcloud.runtime.server import main

raise SystemExit(main())
