import sys

from standardiste.cli.main import main

sys.exit(main())
