"""Output that only consumes results: ``tables`` (Table I, CSV), ``style`` (one style for
every figure) and one module per figure family: ``robustness``, ``null``, ``crossval``,
``leaderboard``, ``transfer``, ``weights``."""
