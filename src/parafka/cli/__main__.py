"""``python -m parafka.cli``: the same as the ``parafka`` command."""

from parafka.cli import main

main()
