package queue

// RiverVersion exposes the River release rescueSQL was checked against.
const RiverVersion = riverVersion
