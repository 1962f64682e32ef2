"""The real-time path in the graph: landed webhook events → raw → marts, alerts, and the sensor."""
