# placeholder until compat lands
