// The views, in the order of the navigation. Adding a view: one module and one line here.
import overview from "./overview.js";
import retention from "./retention.js";
import person from "./person.js";
import live from "./live.js";
import dlq from "./dlq.js";
import keys from "./keys.js";

export const VIEWS = [overview, retention, person, live, dlq, keys];
