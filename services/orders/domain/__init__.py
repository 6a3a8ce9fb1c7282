"""Order domain: money, events, commands, state and pure decide/evolve functions."""
