export * from "./uapi/constants.js";
