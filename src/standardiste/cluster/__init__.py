"""Several nodes behind one SIP entry point (Kamailio): configuration rendering and process control."""
