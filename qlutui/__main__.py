from qlutui.cli import main

raise SystemExit(main())
