"""The ``countersign`` command line: a router (:mod:`countersign_cli.main`) over the command table
(:mod:`countersign_cli.commands`), each command calling the use case its portal page calls (``governance.usecases``).
It sits above ``governance``, beside the portal; nothing in ``governance`` imports it."""
