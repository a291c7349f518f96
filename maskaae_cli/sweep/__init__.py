"""`maskaae sweep-m`: train every (model, m, seed), measure each, tabulate and plot the study."""
