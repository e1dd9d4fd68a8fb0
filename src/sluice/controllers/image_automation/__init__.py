"""The ImageUpdateAutomation controller (Flux ``image.toolkit.fluxcd.io``, group image-automation).

* `setters`: find ``$imagepolicy`` markers and splice the new values into
  the YAML text, byte for byte;
* `message`: the commit-message template data (Flux's v1 ``.Changed`` and
  the older ``.Updated``) rendered with Go templates (`sluice.core.gotemplate`);
* `source`: the GitRepository, its credentials and the branch logic;
* `reconciler`: image-automation-controller's run (policies, checkout,
  setters, commit, push, status, events);
* `controller`: the wiring on a manager (watches on policies and sources).
"""
