"""``python -m finsig_assets.demo_data`` is ``finsig demo-data``."""

from finsig_assets.demo_data.command import main

raise SystemExit(main())
