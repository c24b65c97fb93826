"""Business rules. No AWS types here: stores come in through ``service.dal.interface``."""
