// 27_urlpattern.js: URLPattern (the URL Pattern standard). Patterns are
// parsed and inputs canonicalized natively (urlpattern.rs, the `urlpattern`
// crate); each component's regular expression runs here with RegExp.
// See the header of 00_bootstrap.js for the file convention.
(function (ops, rw) {
  "use strict";

  const TypeErr = TypeError;
  const RegExpCtor = RegExp;
  const RegExpPrototypeExec = Function.prototype.call.bind(RegExp.prototype.exec);
  const ObjectDefineProperty = Object.defineProperty;
  const COMPONENTS = ["protocol", "username", "password", "hostname", "port", "pathname", "search", "hash"];

  // The (input, baseURL, options) / (input, options) overloads.
  function readArgs(input, baseURL, options) {
    if (baseURL !== undefined && typeof baseURL !== "string" && options === undefined) {
      return { input, baseURL: undefined, options: baseURL };
    }
    return { input, baseURL: baseURL === undefined ? undefined : `${baseURL}`, options };
  }

  class URLPattern {
    #patterns;
    #regexps;
    #groups;
    #hasRegExpGroups;
    constructor(input = undefined, baseURL = undefined, options = undefined) {
      const a = readArgs(input === undefined ? {} : input, baseURL, options);
      if (typeof a.input !== "string" && (typeof a.input !== "object" || a.input === null)) a.input = `${a.input}`;
      if (typeof a.input === "object" && a.baseURL !== undefined) {
        throw new TypeErr("URLPattern: a base URL cannot be given with an init object");
      }
      const ignoreCase = a.options !== undefined && a.options !== null && !!a.options.ignoreCase;
      const parsed = ops.urlPatternParse(a.input, a.baseURL, ignoreCase);
      this.#patterns = [];
      this.#regexps = [];
      this.#groups = [];
      for (let i = 0; i < COMPONENTS.length; i++) {
        this.#patterns[i] = parsed[3 * i];
        try {
          this.#regexps[i] = new RegExpCtor(`^${parsed[3 * i + 1]}$`, ignoreCase ? "ui" : "u");
        } catch (e) {
          throw new TypeErr(`URLPattern: the ${COMPONENTS[i]} pattern is not a valid regular expression (${e.message})`);
        }
        this.#groups[i] = parsed[3 * i + 2];
      }
      this.#hasRegExpGroups = parsed[3 * COMPONENTS.length];
    }
    get hasRegExpGroups() {
      return this.#hasRegExpGroups;
    }
    test(input = undefined, baseURL = undefined) {
      return this.#match(input, baseURL, false) !== null;
    }
    exec(input = undefined, baseURL = undefined) {
      return this.#match(input, baseURL, true);
    }
    #match(input, baseURL, wantResult) {
      if (input === undefined) input = {};
      if (typeof input !== "string" && (typeof input !== "object" || input === null)) input = `${input}`;
      if (baseURL !== undefined) baseURL = `${baseURL}`;
      if (typeof input === "object" && baseURL !== undefined) {
        throw new TypeErr("URLPattern: a base URL cannot be given with an init object");
      }
      const values = ops.urlPatternInput(input, baseURL);
      if (values === null) return null;
      const matches = [];
      for (let i = 0; i < COMPONENTS.length; i++) {
        const m = RegExpPrototypeExec(this.#regexps[i], values[i]);
        if (m === null) return null;
        matches[i] = m;
      }
      if (!wantResult) return true;
      const result = { inputs: baseURL === undefined ? [input] : [input, baseURL] };
      for (let i = 0; i < COMPONENTS.length; i++) {
        const names = this.#groups[i];
        const groups = {};
        for (let g = 0; g < names.length; g++) groups[names[g]] = matches[i][g + 1];
        result[COMPONENTS[i]] = { input: values[i], groups };
      }
      return result;
    }
    static {
      for (let i = 0; i < COMPONENTS.length; i++) {
        ObjectDefineProperty(URLPattern.prototype, COMPONENTS[i], {
          get() {
            if (!(#patterns in this)) throw new TypeErr(`Illegal invocation: URLPattern.${COMPONENTS[i]}`);
            return this.#patterns[i];
          },
          enumerable: true,
          configurable: true,
        });
      }
    }
  }
  for (const key of ["hasRegExpGroups", "test", "exec"]) {
    ObjectDefineProperty(URLPattern.prototype, key, { enumerable: true });
  }
  ObjectDefineProperty(URLPattern.prototype, Symbol.toStringTag, { value: "URLPattern", configurable: true });
  rw.define("URLPattern", URLPattern);
});
