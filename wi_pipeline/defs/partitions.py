from dagster import StaticPartitionsDefinition

from wi_pipeline.lib.layout import G4

g4_partitions = StaticPartitionsDefinition(list(G4))
