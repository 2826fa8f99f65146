"""Analysis: the only place that turns stored evidence into judgements.

Collector side: the agent never imports anything from here. Policies, dead
functions, egress and the report all read the store through this package and
hand renderers one findings model.
"""
