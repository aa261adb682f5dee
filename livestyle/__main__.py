import sys

from livestyle.cli import main

sys.exit(main())
