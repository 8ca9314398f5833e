//! Sans-I/O stream negotiation.
