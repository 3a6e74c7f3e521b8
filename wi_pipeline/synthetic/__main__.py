import sys

from wi_pipeline.synthetic.cli import main

sys.exit(main())
