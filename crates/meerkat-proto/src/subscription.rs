//! Roster subscription states (RFC 6121 §3 and Appendix A).
