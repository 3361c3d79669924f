// The views, in the order of the navigation. Adding a view: one module and one line here.
import overview from "./overview.js";
import trends from "./trends.js";
import funnel from "./funnel.js";
import retention from "./retention.js";
import stickiness from "./stickiness.js";
import lifecycle from "./lifecycle.js";
import person from "./person.js";
import live from "./live.js";
import dlq from "./dlq.js";
import keys from "./keys.js";

export const VIEWS = [overview, trends, funnel, retention, stickiness, lifecycle, person, live, dlq, keys];
