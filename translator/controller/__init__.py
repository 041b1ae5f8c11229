"""The controller: informers, a work queue and thin reconcilers around pure decisions."""
