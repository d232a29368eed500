export { contentSecurityPolicy, registerWebPage, VENDOR_MODULES, WEB_ROOT } from "./web-page.js";
