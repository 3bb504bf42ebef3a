"""Where a request goes: a route turned into an ordered plan of attempts (``routing``),
with context windows, cooldowns shared between processes, retry budgets and
cache-aware prefix affinity."""
