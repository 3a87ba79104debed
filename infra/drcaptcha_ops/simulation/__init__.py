"""The crowd simulation (issue 9): simulated people and bots answer real captchas, and we measure the labels.

Everything runs through the real stack: challenges are issued and answered by `drcaptcha.challenges` (or, with
`through_gateway`, over HTTP through the local gateway and the captcha function), votes go to the Kinesis
stream, and the local poller drains it into the labels function. Only the agents themselves are simulated.

One module a job, each using only those above it:
- `agents`: the people (humans, blind spammers, informed colluders), how they misread and type, the crowd;
- `bots`: bots that cut the PNG into glyphs and classify them with the best ensemble;
- `oracle`: what each glyph really is (truth/) and whether the network finds it hard;
- `transport`: the ways in, library calls or HTTP through the local gateway;
- `run`: agents take captchas, and the run log tallies what happened;
- `report`: the recorded votes and labels judged against truth/, other scoring rules, the terminal table;
- `stack`: `simulate` (the wiring), `fresh_stack` (an embedded emulator with an import) and `best_network`.
"""
