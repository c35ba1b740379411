"""``python -m realtime_sdk.cli``: the ``realtime`` command."""

from __future__ import annotations

import sys

from . import main

sys.exit(main())
