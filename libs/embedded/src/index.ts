export { EmbeddedJobs, type EmbeddedJobsOptions } from "./embedded-jobs.js";
