"""Customer domain: events, commands, state and pure decide/evolve functions."""
