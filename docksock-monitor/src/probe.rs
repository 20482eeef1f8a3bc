//! Kernel program loading. Owner: lead.
