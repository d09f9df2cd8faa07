/**
 * Data partitions of campaigns (FleetWise store-and-forward), beside the batches stage: the split
 * of a collected batch into one stored record per partition, each partition's store limits, and
 * the upload gates that hold a partition's data until its upload condition is true. Kept out of
 * batches/ so the wire format (batches/) stays free of the campaign engine (the cloud Lambdas
 * bundle batches/ alone).
 */
export { PartitionGates, partitionLimits, splitByPartition } from './partitions.js';
