"""`python -m astrid_host` is the `astrid-host` command."""

import sys

from astrid_host._cli import main

sys.exit(main())
