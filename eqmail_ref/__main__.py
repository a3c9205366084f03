import sys

from eqmail_ref.cli import main

sys.exit(main())
