# Copyright: chaosrun developers
# Apache License 2.0 (see https://www.apache.org/licenses/LICENSE-2.0)
"""Render a fault step's shell script from a role's templates, without copying the vars."""

from __future__ import annotations

DOCUMENTATION = r"""
name: fault_script
short_description: Render a fault step's shell script from the role's templates
description:
  - Finds each term as C(ansible.builtin.template) does (the C(templates) directories of
    the roles in play, then the playbook's) and renders it with the task's variables.
  - Unlike C(ansible.builtin.template), it does not deep-copy every variable of the host
    for each template, and it adds none of the C(template_*) or C(ansible_managed)
    variables. A fault step renders its scripts on every host of a large fleet, where that
    copy grows with the inventory and was the dearest part of the step on the controller.
  - The scripts are shell, run with C(ansible.builtin.raw). Values reach them through
    C(quote) in the template, as with any template.
author:
  - chaosrun developers (@chaosrun)
options:
  _terms:
    description: Template file names, searched like C(ansible.builtin.template)'s.
    required: true
    type: list
    elements: str
"""

EXAMPLES = r"""
- name: Run the role's check script on the host
  ansible.builtin.raw: "{{ lookup('chaosrun.chaos.fault_script', 'check.sh.j2') }}"
  changed_when: false
"""

RETURN = r"""
_raw:
  description: The rendered scripts, one per term.
  type: list
  elements: str
"""

import os

from ansible.errors import AnsibleError
from ansible.plugins.lookup import LookupBase
from ansible.template import trust_as_template

try:  # The template lookup's own way to render a file: no top-level finalization.
    from ansible._internal._templating._engine import TemplateOptions
except ImportError:  # pragma: no cover - another ansible-core: the public API
    TemplateOptions = None


class LookupModule(LookupBase):
    """The template lookup's search and rendering, minus its per-call copy of the vars."""

    def run(self, terms, variables=None, **kwargs):
        variables = variables or {}
        self.set_options(var_options=variables, direct=kwargs)
        rendered = []
        for term in terms:
            path = self.find_file_in_search_path(variables, "templates", term)
            if not path:
                raise AnsibleError(f"the script template {term} could not be found")
            source = trust_as_template(self._loader.get_text_file_contents(path))
            # Includes inside the script resolve as the template lookup resolves them.
            searchpath = [os.path.dirname(path)]
            for base in variables.get("ansible_search_path", []):
                searchpath += [os.path.join(base, "templates"), base]
            templar = self._templar.copy_with_new_env(
                available_variables=variables, searchpath=searchpath
            )
            if TemplateOptions is None:
                rendered.append(templar.template(source, escape_backslashes=False))
            else:
                # As ansible.builtin.template renders a file: backslashes kept as written.
                options = TemplateOptions(escape_backslashes=False)
                rendered.append(templar._engine.template(source, options=options))
        return rendered
