from dexmood.cli import main

raise SystemExit(main())
